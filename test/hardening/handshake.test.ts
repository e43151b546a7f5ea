// The opening handshake against hostile clients and servers: ReDoS (ws CVE-2021-32640), prototype names
// (ws 3.3.1), headers dropped by maxHeadersCount (ws CVE-2024-37890), slowloris, and default timeouts.
import * as http from 'http';
import * as net from 'net';
import { performance } from 'perf_hooks';
import { Upgrader, WebSocketServer, connect, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT } from '../../src';
import { negotiateServer } from '../../src/extensions/permessage-deflate';
import { parseExtensionHeader } from '../../src/extensions/extension-header';
import { listContainsToken, parseList } from '../../src/handshake/headers';
import { activeResources, expectNoLeakedResources, within } from '../fuzz/harness';
import { echoMessages } from '../helpers/servers';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
let cleanups: Array<() => Promise<void> | void> = [];
let baseline: Record<string, number>;
beforeAll(() => {
  baseline = activeResources();
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
afterAll(async () => {
  await expectNoLeakedResources(baseline);
});

async function server(opts: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<{ wss: WebSocketServer; port: number }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...opts }, (ws) => {
    void echoMessages(ws);
  });
  wss.on('handshakeError', () => undefined);
  const { port } = await wss.listen();
  cleanups.push(() => wss.close());
  return { wss, port };
}

/** Sends a raw request head and resolves with everything the server answered until it closed or 101 came. */
function rawRequest(port: number, head: string, waitMs = 5000): Promise<{ status: number; text: string }> {
  return within(
    new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let text = '';
      const done = (): void => {
        socket.destroy();
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
        resolve({ status, text });
      };
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        if (text.startsWith('HTTP/1.1 101') && text.includes('\r\n\r\n')) done();
      });
      socket.on('close', done);
      socket.on('error', reject);
      socket.write(head);
    }),
    waitMs,
    'the handshake answer',
  );
}

function upgradeHead(extra: string[], path = '/'): string {
  return [
    `GET ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${KEY}`,
    'Sec-WebSocket-Version: 13',
    ...extra,
    '',
    '',
  ].join('\r\n');
}

/**
 * Best of `runs` measurements of `fn`'s CPU time, in ms. CPU time, not wall time: on a loaded machine a
 * descheduled process would otherwise look slow; the minimum filters out GC and cache noise.
 */
function bestTime(fn: () => void, runs = 7): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = process.cpuUsage();
    fn();
    const used = process.cpuUsage(t0);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

describe('no super-linear header parsing (ws CVE-2021-32640)', () => {
  const patterns: Array<[string, (n: number) => string]> = [
    ['spaces', (n) => 'a' + ' '.repeat(n) + 'b'],
    ['tabs and spaces', (n) => 'x' + ' \t'.repeat(n / 2) + ';'],
    ['commas', (n) => ','.repeat(n) + 'x'],
    ['comma-space', (n) => ', '.repeat(n / 2) + '='],
    ['semicolons', (n) => 'permessage-deflate' + ';'.repeat(n)],
    ['params', (n) => 'permessage-deflate' + '; a'.repeat(n / 3) + ';'],
    ['unterminated quotes', (n) => 'permessage-deflate; a="' + '\\"'.repeat(n / 2)],
    ['equals', (n) => 'permessage-deflate; a' + '='.repeat(n)],
  ];
  test.each(patterns)('%s: 10x the input takes at most ~20x the time', (_name, make) => {
    const small = make(8 * 1024);
    const large = make(80 * 1024);
    const work = (s: string) => () => {
      for (let i = 0; i < 20; i++) {
        parseList(s);
        listContainsToken(s, 'chat');
        parseExtensionHeader(s);
        negotiateServer(s, {});
      }
    };
    bestTime(work(large), 2); // warm up
    const tSmall = bestTime(work(small), 15);
    const tLarge = bestTime(work(large), 15);
    // Linear would be 10x; quadratic 100x. The margin absorbs GC and cache effects on a shared machine.
    expect(tLarge).toBeLessThan(Math.max(25 * tSmall, 5));
    // Absolute sanity: 80 KB handled 20 times over in well under a second.
    expect(tLarge).toBeLessThan(500);
  });

  test('a live server answers an 8 KB pathological Sec-WebSocket-Protocol/-Extensions at once', async () => {
    const { port } = await server({ upgrader: { compression: true, subprotocols: ['chat'] } });
    const evil = ' ,\t'.repeat(2700);
    const t0 = performance.now();
    const res = await rawRequest(port, upgradeHead([`Sec-WebSocket-Protocol: a${evil}chat`, `Sec-WebSocket-Extensions: permessage-deflate${evil};`]));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(res.status).toBe(101);
    expect(res.text).toMatch(/Sec-WebSocket-Protocol: chat\r\n/);
  });
});

describe('names off the wire are data, never object keys (ws 3.3.1)', () => {
  const evil = ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'prototype', 'valueOf', '__defineGetter__'];
  test('subprotocols and extension names/params named after Object.prototype members', async () => {
    const { port } = await server({ upgrader: { compression: true, subprotocols: ['chat'] } });
    const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const requests = [
      [`Sec-WebSocket-Protocol: ${evil.join(', ')}`],
      [`Sec-WebSocket-Protocol: ${evil.join(', ')}, chat`],
      [`Sec-WebSocket-Extensions: ${evil.join(', ')}`],
      [`Sec-WebSocket-Extensions: permessage-deflate; ${evil.join('; ')}`],
      [`Sec-WebSocket-Extensions: permessage-deflate; ${evil.map((e) => `${e}=1`).join('; ')}, permessage-deflate`],
      [`Sec-WebSocket-Extensions: ${evil.map((e) => `${e}; ${e}=${e}`).join(', ')}`],
    ];
    const answers = [];
    for (const extra of requests) answers.push(await rawRequest(port, upgradeHead(extra)));
    expect(answers.map((a) => a.status)).toEqual([101, 101, 101, 101, 101, 101]);
    expect(answers[0]?.text).not.toMatch(/Sec-WebSocket-Protocol/);
    expect(answers[1]?.text).toMatch(/Sec-WebSocket-Protocol: chat\r\n/);
    // An offer with unknown params is declined; the clean second offer is taken.
    expect(answers[3]?.text).not.toMatch(/Sec-WebSocket-Extensions/);
    expect(answers[4]?.text).toMatch(/Sec-WebSocket-Extensions: permessage-deflate\r\n/);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
    expect(({} as Record<string, unknown>).permessage).toBeUndefined();
  });

  test('parsed offers keep the names as plain strings, in arrays', () => {
    const offers = parseExtensionHeader('__proto__; constructor=1; __proto__, hasOwnProperty') ?? [];
    expect(offers.map((o) => o.name)).toEqual(['__proto__', 'hasownproperty']);
    expect(offers[0]?.params.map((p) => p.name)).toEqual(['constructor', '__proto__']);
    expect(Object.getPrototypeOf(offers[0])).toBe(Object.prototype);
    expect(typeof ({} as { constructor: unknown }).constructor).toBe('function');
  });
});

describe('every header may be missing (ws CVE-2024-37890)', () => {
  // With maxHeadersCount = 6, node keeps only the first 6 headers in req.headers: whatever follows is
  // silently dropped there. rawHeaders keeps them, and every header the handshake checks is read from
  // rawHeaders, so those handshakes still succeed, with the right accept value; only the negotiated
  // Sec-WebSocket-Protocol and -Extensions come from req.headers, and their loss means a plain 101.
  const cases: Array<[string, string[], number]> = [
    ['Sec-WebSocket-Key dropped', ['Host: h', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'X-1: 1', 'X-2: 2', `Sec-WebSocket-Key: ${KEY}`], 101],
    ['Sec-WebSocket-Version dropped', ['Host: h', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'X-1: 1', 'X-2: 2', 'Sec-WebSocket-Version: 13'], 101],
    ['Host dropped', ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13', 'X-1: 1', 'X-2: 2', 'Host: h'], 101],
    ['Connection dropped', ['Host: h', 'Upgrade: websocket', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13', 'X-1: 1', 'X-2: 2', 'Connection: Upgrade'], 101],
    ['Upgrade dropped', ['Host: h', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13', 'X-1: 1', 'X-2: 2', 'Upgrade: websocket'], 101],
    ['all but junk dropped', ['X-1: 1', 'X-2: 2', 'X-3: 3', 'X-4: 4', 'X-5: 5', 'X-6: 6', 'Host: h', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13'], 101],
    ['Sec-WebSocket-Protocol and -Extensions dropped: a plain 101', ['Host: h', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13', 'X-1: 1', 'Sec-WebSocket-Protocol: chat', 'Sec-WebSocket-Extensions: permessage-deflate'], 101],
  ];
  test.each(cases)('%s → %i', async (_name, headers, status) => {
    const httpServer = http.createServer();
    httpServer.maxHeadersCount = 6;
    const wss = new WebSocketServer({ server: httpServer, upgrader: { compression: true, subprotocols: ['chat'], checkOrigin: () => true } });
    const errors: Error[] = [];
    wss.on('handshakeError', (e: Error) => errors.push(e));
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      await wss.close();
      await new Promise<void>((r) => httpServer.close(() => r()));
    });
    const { port } = httpServer.address() as net.AddressInfo;
    const res = await rawRequest(port, ['GET / HTTP/1.1', ...headers, '', ''].join('\r\n'));
    if (res.status === 0) {
      // node itself may refuse a request it no longer sees as an upgrade; what matters is no crash, no 101.
      expect(status).not.toBe(101);
    } else {
      expect(res.status).toBe(status);
    }
    if (status === 101) {
      expect(res.text).toMatch(/Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
      if (headers.length === 8) expect(res.text).not.toMatch(/Sec-WebSocket-(Protocol|Extensions)/);
    }
    else expect(errors.every((e) => e.name === 'HandshakeError')).toBe(true);
  });
});

describe('slow handshakes', () => {
  test('slowloris on the request head: node closes it after headersTimeout (configure it on the http.Server)', async () => {
    const httpServer = http.createServer({ headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 50 } as http.ServerOptions);
    const wss = new WebSocketServer({ server: httpServer });
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      await wss.close();
      await new Promise<void>((r) => httpServer.close(() => r()));
    });
    const { port } = httpServer.address() as net.AddressInfo;
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const head = upgradeHead([]);
    let i = 0;
    const drip = setInterval(() => {
      if (i < head.length - 2) socket.write(head[i++] as string);
    }, 40);
    const t0 = Date.now();
    await within(new Promise((r) => socket.once('close', r)), 5000, 'the slowloris socket to be closed');
    clearInterval(drip);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(i).toBeLessThan(head.length - 2);
  });

  test('handshakeTimeout is on by default on both sides (10 s): a stalled server and a stalled client are both dropped', async () => {
    expect(DEFAULT_HANDSHAKE_TIMEOUT).toBe(10_000);
    expect(DEFAULT_CONNECT_TIMEOUT).toBe(10_000);
    // Server side: an origin check that never answers, with the default Upgrader.
    const upgrader = new Upgrader({ checkOrigin: () => new Promise<boolean>(() => undefined) });
    const httpServer = http.createServer();
    const serverSide = new Promise<Error>((resolve) =>
      httpServer.on('upgrade', (req, socket, head) => {
        upgrader.upgrade(req, socket as net.Socket, head).then(
          () => resolve(new Error('unexpected success')),
          (e: Error) => resolve(e),
        );
      }),
    );
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
    const { port } = httpServer.address() as net.AddressInfo;
    const rawClient = net.connect(port, '127.0.0.1');
    rawClient.on('error', () => undefined);
    rawClient.write(upgradeHead([]));
    // Client side: a TCP server that accepts and never answers, with the default connect options.
    const silent = net.createServer((s) => s.on('error', () => undefined).resume());
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    const t0 = Date.now();
    const clientSide = connect(`ws://127.0.0.1:${silentPort}/`).then(
      () => new Error('unexpected success'),
      (e: Error) => e,
    );
    const [s, c] = await within(Promise.all([serverSide, clientSide]), 14_000, 'both default timeouts');
    const elapsed = Date.now() - t0;
    expect(s).toMatchObject({ name: 'HandshakeError', message: expect.stringMatching(/timed out/) });
    expect(c).toMatchObject({ name: 'HandshakeError', message: expect.stringMatching(/timed out/) });
    expect(elapsed).toBeGreaterThanOrEqual(9_000);
    rawClient.destroy();
    httpServer.closeAllConnections();
    httpServer.close();
    silent.close();

  }, 20_000);
});
