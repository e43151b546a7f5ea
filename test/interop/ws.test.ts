// wsflow against `ws` (the npm package), in-process, both roles, with and without permessage-deflate.
// ws fragments with send(chunk, { fin: false }) and pings/pongs with payloads.
import { WebSocket as WsClient, WebSocketServer as WsServer, type RawData } from 'ws';
import { chunksOf, FIXTURES, FRAG_BINARY, FRAG_TEXT } from './fixtures';
import { connect } from '../../src';
import {
  countingProxy,
  expectPeerClientRun,
  expectWsflowClientRun,
  runWsflowClient,
  startEchoServer,
  STEP_TIMEOUT,
  withTimeout,
  type ClientReport,
} from './helpers';

jest.setTimeout(60_000);

/** A ws client with a message queue. */
function wsClient(url: string, compression: boolean, protocols: string[] = []) {
  const ws = new WsClient(url, protocols, { perMessageDeflate: compression, maxPayload: 64 * 1024 * 1024 });
  const queue: Array<{ data: Buffer; isBinary: boolean }> = [];
  const waiters: Array<(m: { data: Buffer; isBinary: boolean }) => void> = [];
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const m = { data: Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]), isBinary };
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8') })),
  );
  const opened = withTimeout(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    STEP_TIMEOUT,
    'ws open',
  );
  const next = (): Promise<{ data: Buffer; isBinary: boolean }> =>
    withTimeout(
      queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiters.push(resolve)),
      STEP_TIMEOUT,
      'a message from wsflow',
    );
  const send = (data: Buffer | string, opts: { binary?: boolean; fin?: boolean; compress?: boolean } = {}): Promise<void> =>
    new Promise((resolve, reject) => ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
  return { ws, next, closed: withTimeout(closed, STEP_TIMEOUT, 'ws close'), opened, send };
}

/** Sends a message in frames with ws's `fin: false` (the chunks of text may cut UTF-8 sequences). */
type Send = (data: Buffer | string, opts: { binary?: boolean; fin?: boolean }) => Promise<void>;

async function sendFragmented(send: Send, data: Buffer, binary: boolean, size: number): Promise<void> {
  const chunks = chunksOf(data, size);
  for (let i = 0; i < chunks.length; i++) await send(chunks[i]!, { binary, fin: i === chunks.length - 1 });
}

/** The scenario of peers/*_client.*, played by ws. */
async function runWsClient(url: string, compression: boolean): Promise<ClientReport> {
  const c = wsClient(url, compression, ['chat.v2', 'chat']);
  await c.opened;
  const echoes: ClientReport['conn1']['echoes'] = [];
  for (const f of FIXTURES) {
    if (f.fragment === undefined) await c.send(f.data, { binary: f.type === 'binary' });
    else await sendFragmented(c.send, f.data, f.type === 'binary', f.fragment);
    const m = await c.next();
    echoes.push({ name: f.name, ok: m.data.equals(f.data) && m.isBinary === (f.type === 'binary'), type: m.isBinary ? 'binary' : 'text', len: m.data.length });
  }
  const pong = withTimeout(new Promise<string>((r) => c.ws.once('pong', (p: Buffer) => r(p.toString()))), STEP_TIMEOUT, 'pong');
  c.ws.ping('cli-ping');
  const clientPong = await pong;
  await c.send('srv-ping:hello');
  const serverPing = (await c.next()).data.toString();
  await c.send('srv-fragments');
  const t = await c.next();
  const b = await c.next();
  c.ws.close(4001, 'bye');
  const close = await c.closed;

  const c2 = wsClient(url, compression);
  await c2.opened;
  await c2.send('srv-close:4002:srv');
  const close2 = await c2.closed;
  return {
    conn1: {
      protocol: c.ws.protocol,
      extensions: c.ws.extensions,
      echoes,
      clientPong,
      serverPing,
      srvFragments: {
        text: !t.isBinary && t.data.toString('utf8') === FRAG_TEXT,
        binary: b.isBinary && b.data.equals(FRAG_BINARY),
      },
      close,
    },
    conn2: { close: close2 },
  };
}

/** A ws echo server obeying the srv-* commands; logs close events like the peer servers do. */
async function startWsServer(): Promise<{ port: number; closeEvents: Array<Record<string, unknown>>; close: () => Promise<void> }> {
  const closeEvents: Array<Record<string, unknown>> = [];
  const wss = new WsServer({
    port: 0,
    host: '127.0.0.1',
    perMessageDeflate: true,
    maxPayload: 64 * 1024 * 1024,
    handleProtocols: (protocols) => (protocols.has('chat.v2') ? 'chat.v2' : false),
  });
  wss.on('connection', (ws) => {
    let initiator = 'client';
    ws.on('close', (code, reason) => closeEvents.push({ event: 'close', initiator, code, reason: reason.toString('utf8') }));
    const send = (data: Buffer | string, opts: { binary?: boolean; fin?: boolean }): Promise<void> =>
      new Promise((resolve, reject) => ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
    ws.on('message', (raw: RawData, isBinary: boolean) => {
      const data = Buffer.isBuffer(raw) ? raw : Buffer.concat(raw as Buffer[]);
      const text = isBinary ? '' : data.toString('utf8');
      void (async () => {
        if (text.startsWith('srv-ping:')) {
          const payload = text.slice('srv-ping:'.length);
          ws.once('pong', (p: Buffer) => ws.send(`srv-pong:${p.toString()}`));
          ws.ping(payload);
        } else if (text.startsWith('srv-close:')) {
          const [, code, reason] = text.split(':', 3) as [string, string, string];
          initiator = 'server';
          ws.close(Number(code), reason);
        } else if (text === 'srv-fragments') {
          await sendFragmented(send, Buffer.from(FRAG_TEXT, 'utf8'), false, 1000);
          await sendFragmented(send, FRAG_BINARY, true, 100000);
        } else if (data.length > 65536) {
          await sendFragmented(send, data, isBinary, 65536);
        } else {
          await send(data, { binary: isBinary });
        }
      })().catch(() => ws.terminate());
    });
  });
  await withTimeout(new Promise<void>((r) => wss.once('listening', () => r())), STEP_TIMEOUT, 'ws listening');
  return {
    port: (wss.address() as { port: number }).port,
    closeEvents,
    close: () =>
      withTimeout(
        new Promise<void>((resolve) => {
          for (const c of wss.clients) c.terminate();
          wss.close(() => resolve());
        }),
        5000,
        'ws server close',
      ).catch(() => undefined),
  };
}

describe('ws (npm)', () => {
  describe.each([false, true])('as a client of a wsflow server (compression %s)', (compression) => {
    test('echo of text/binary/empty/1 MiB/fragmented, pings both ways, close codes both ways', async () => {
      const server = await startEchoServer({ subprotocols: ['chat.v2'], compression });
      try {
        const report = await runWsClient(server.url, compression);
        await expectPeerClientRun(report, server, { compression, clientPing: true, protocol: 'chat.v2' });
        expect(report.conn1.close).toEqual({ code: 4001, reason: '' });
        if (compression) expect(report.conn1.extensions).toMatch(/^permessage-deflate/);
      } finally {
        await server.close();
      }
    });
  });

  describe.each([false, true])('as a server for a wsflow client (compression %s)', (compression) => {
    test('echo (fragmented above 64 KiB), pings both ways, close codes both ways', async () => {
      const server = await startWsServer();
      const proxy = await countingProxy(server.port);
      try {
        const result = await runWsflowClient(`ws://127.0.0.1:${proxy.port}/`, { compression });
        await expectWsflowClientRun(result, {
          compression,
          protocol: 'chat.v2',
          proxy,
          closeEvents: async () => {
            await withTimeout(
              (async () => {
                while (server.closeEvents.length < 2) await new Promise((r) => setTimeout(r, 20));
              })(),
              STEP_TIMEOUT,
              'ws close events',
            );
            return server.closeEvents;
          },
        });
      } finally {
        await proxy.close();
        await server.close();
      }
    });
  });
});

// ---- permessage-deflate parameters ------------------------------------------------------------

/** Pseudo-random bytes (xorshift32), so matches only come from the repetition we put in. */
function noise(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

// A 3000-byte random block repeated: the only matches are 3000 bytes back, beyond a 2^8/2^9/2^10 window,
// so a compressor that uses a bigger window than agreed produces data the peer's inflater rejects.
const BLOCK = noise(3000, 42);
const TEXT_BLOCK = Buffer.from(BLOCK.toString('base64').slice(0, 3000), 'latin1');
const WINDOW_PROBES: Array<{ type: 'text' | 'binary'; data: Buffer }> = [
  { type: 'binary', data: Buffer.concat(Array.from({ length: 50 }, () => BLOCK)) },
  // the same again: with context takeover it may refer to the previous message
  { type: 'binary', data: Buffer.concat(Array.from({ length: 50 }, () => BLOCK)) },
  { type: 'text', data: Buffer.concat(Array.from({ length: 50 }, () => TEXT_BLOCK)) },
  { type: 'text', data: Buffer.from('h\u00e9llo \u{1F600} '.repeat(500), 'utf8') },
  { type: 'binary', data: noise(200_000, 7) },
];

describe('ws (npm) × wsflow: permessage-deflate parameters', () => {
  const offers: Array<Record<string, unknown>> = [
    { serverNoContextTakeover: true, clientNoContextTakeover: true },
    { serverMaxWindowBits: 10, clientMaxWindowBits: 10 },
    { serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
    { serverMaxWindowBits: 8 },
  ];

  test.each(offers)('ws client offering %j to a wsflow server', async (offer) => {
    const server = await startEchoServer({ compression: true });
    try {
      const ws = new WsClient(server.url, { perMessageDeflate: { ...offer, threshold: 0 } });
      const messages: Array<{ data: Buffer; isBinary: boolean }> = [];
      ws.on('message', (data: RawData, isBinary: boolean) => messages.push({ data: data as Buffer, isBinary }));
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
      );
      await withTimeout(new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject)), STEP_TIMEOUT, 'open');
      for (const p of WINDOW_PROBES) ws.send(p.data, { binary: p.type === 'binary' });
      await withTimeout(
        (async () => {
          while (messages.length < WINDOW_PROBES.length && ws.readyState === ws.OPEN) await new Promise((r) => setTimeout(r, 10));
        })(),
        STEP_TIMEOUT,
        'echoes',
      );
      const c = await server.conn(0);
      expect(c.errors).toEqual([]);
      expect(c.received.map((m) => m.len)).toEqual(WINDOW_PROBES.map((p) => p.data.length));
      expect(messages.map((m) => ({ ok: m.data.equals(WINDOW_PROBES[messages.indexOf(m)]!.data), binary: m.isBinary }))).toEqual(
        WINDOW_PROBES.map((p) => ({ ok: true, binary: p.type === 'binary' })),
      );
      ws.close(1000);
      expect(await withTimeout(closed, STEP_TIMEOUT, 'close')).toMatchObject({ code: 1000 });
    } finally {
      await server.close();
    }
  });

  test.each(offers)('wsflow client offering %j to a ws server', async (offer) => {
    const wss = new WsServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0 } });
    wss.on('connection', (ws) => ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data as Buffer, { binary: isBinary })));
    await withTimeout(new Promise<void>((r) => wss.once('listening', () => r())), STEP_TIMEOUT, 'listening');
    try {
      const ws = await connect(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`, { compression: { ...offer, threshold: 0 } });
      try {
        expect(ws.extensions).toMatch(/^permessage-deflate/);
        const got: Array<{ type: string; ok: boolean }> = [];
        for (const p of WINDOW_PROBES) {
          await ws.writeMessage(p.data, p.type);
          const m = await withTimeout(ws.readMessage(), STEP_TIMEOUT, 'echo');
          got.push({ type: m.type, ok: m.data.equals(p.data) });
        }
        expect(got).toEqual(WINDOW_PROBES.map((p) => ({ type: p.type, ok: true })));
        expect(await withTimeout(ws.close(1000), STEP_TIMEOUT, 'close')).toMatchObject({ code: 1000, wasClean: true });
      } finally {
        ws.terminate();
      }
    } finally {
      await withTimeout(
        new Promise<void>((r) => {
          for (const c of wss.clients) c.terminate();
          wss.close(() => r());
        }),
        5000,
        'ws server close',
      ).catch(() => undefined);
    }
  });
});
