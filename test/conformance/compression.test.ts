// permessage-deflate over real connections: the data path of RFC 7692 between two wsflow endpoints,
// over an HTTP/1.1 upgrade and over an HTTP/2 extended CONNECT stream (RFC 8441, h2c: a WebSocketServer
// on an http2 server, and connect() on a given session to it).
import type { Duplex } from 'stream';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import type * as http2 from 'http2';
import { WebSocketServer, connect, PerMessageDeflateOptions, WebSocket, type ConnectOptions, type UpgraderOptions } from '../../src';
import { openSession, startH2Server } from '../helpers/http2';
import { forEachTransport, type Transport } from './driver';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A wsflow server endpoint and how to connect to it. */
interface Endpoint {
  connect(opts?: ConnectOptions): Promise<WebSocket>;
  /** The WebSocket bytes (frames, after the handshake) the server received so far, on every connection. */
  received(): Buffer;
}

async function echoLoop(ws: WebSocket): Promise<void> {
  try {
    for await (const m of ws) await ws.writeMessage(m.data, m.type);
  } catch {
    /* closed */
  }
}

/** A WebSocketServer running `handler` over `transport`: a TCP server, or an h2c server and a session to it. */
async function serve(transport: Transport, upgrader: UpgraderOptions, handler: (ws: WebSocket) => void): Promise<Endpoint> {
  const chunks: Buffer[] = [];
  const received = (): Buffer => Buffer.concat(chunks);
  const onConnection = (ws: WebSocket): void => {
    // The server's end of the transport (a TCP socket or an HTTP/2 stream): the frames as the client sent them.
    (ws as unknown as { socket: Duplex }).socket.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    handler(ws);
  };
  if (transport === 'http1') {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', upgrader }, onConnection);
    cleanups.push(() => wss.close());
    const { port } = await wss.listen();
    return { connect: (opts = {}) => connect(`ws://127.0.0.1:${port}/`, opts), received };
  }
  let wss!: WebSocketServer;
  const h2 = await startH2Server({ h2c: true }, (server) => {
    wss = new WebSocketServer({ http2: server, upgrader }, onConnection);
  });
  cleanups.push(() => h2.close());
  cleanups.push(() => wss.close());
  const session: http2.ClientHttp2Session = await openSession(h2.origin);
  cleanups.push(() => void session.destroy());
  return { connect: (opts = {}) => connect(`ws://127.0.0.1:${h2.port}/`, { ...opts, http2: session }), received };
}

const echoServer = (transport: Transport, compression: boolean | PerMessageDeflateOptions, maxPayload?: number): Promise<Endpoint> =>
  serve(transport, { compression, maxPayload }, (ws) => void echoLoop(ws));

const json = (i: number) =>
  JSON.stringify({ id: i, user: `user-${i % 17}`, tags: ['alpha', 'beta', 'gamma'], text: 'lorem ipsum dolor sit amet '.repeat(40) });

forEachTransport((transport) => {
describe('permessage-deflate data path', () => {
    const windows = [8, 9, 10, 11, 12, 13, 14, 15];
    test.each(windows.flatMap((bits) => [[bits, true], [bits, false]] as Array<[number, boolean]>))(
      'echo at window bits %i, no context takeover %s',
      async (bits, noTakeover) => {
        const opts: PerMessageDeflateOptions = {
          serverMaxWindowBits: bits,
          clientMaxWindowBits: bits,
          serverNoContextTakeover: noTakeover,
          clientNoContextTakeover: noTakeover,
          threshold: 0,
        };
        const server = await echoServer(transport, opts);
        const ws = await server.connect({ compression: opts });
        expect(ws.extensions).toContain('permessage-deflate');
        for (let i = 0; i < 20; i++) {
          const text = json(i);
          await ws.writeMessage(text);
          const m = await ws.readMessage();
          expect(m.data.toString()).toBe(text);
        }
        await ws.close();
      },
    );

    test('compressed frames really are compressed (RSV1 on the wire, fewer bytes)', async () => {
      const server = await echoServer(transport, true);
      const ws = await server.connect({ compression: true });
      const text = json(1);
      await ws.writeMessage(text);
      await ws.readMessage();
      const wire = server.received();
      expect({ rsv1: (wire[0] & 0x40) !== 0, compressed: wire.length < text.length / 3 }).toEqual({ rsv1: true, compressed: true });
      await ws.close();
    });

    test('writeMessage(..., { compress: false }) and messages under the threshold go uncompressed', async () => {
      const server = await echoServer(transport, true);
      const ws = await server.connect({ compression: { threshold: 1024 } });
      const text = json(2);
      await ws.writeMessage(text, 'text', { compress: false });
      expect((await ws.readMessage()).data.toString()).toBe(text);
      let wire = server.received();
      expect({ rsv1: (wire[0] & 0x40) !== 0, longer: wire.length > text.length }).toEqual({ rsv1: false, longer: true });
      const before = wire.length;
      await ws.writeMessage('short');
      expect((await ws.readMessage()).data.toString()).toBe('short');
      wire = server.received().subarray(before);
      expect({ rsv1: (wire[0] & 0x40) !== 0, length: wire.length }).toEqual({ rsv1: false, length: 2 + 4 + 5 });
      await ws.close();
    });

    test('messages keep their order when compressed and uncompressed ones interleave', async () => {
      const server = await echoServer(transport, { threshold: 100 });
      const ws = await server.connect({ compression: { threshold: 100 } });
      const sent = Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? `s${i}` : json(i)));
      for (const s of sent) void ws.writeMessage(s);
      for (const s of sent) expect((await ws.readMessage()).data.toString()).toBe(s);
      await ws.close();
    });

    test('a compressed message inflating past maxPayload closes with 1009', async () => {
      const server = await echoServer(transport, true, 64 * 1024);
      const ws = await server.connect({ compression: true });
      const closed = new Promise<{ code: number }>((resolve) => ws.once('close', resolve));
      // 1 MiB of zeros deflates to about a kilobyte: small on the wire, big once inflated.
      await ws.writeMessage(Buffer.alloc(1024 * 1024));
      expect((await closed).code).toBe(1009);
    });

    test('nextWriter compresses as it writes and nextReader inflates as frames arrive', async () => {
      const server = await echoServer(transport, true);
      const ws: WebSocket = await server.connect({ compression: true });
      const parts = Array.from({ length: 50 }, (_, i) => json(i));
      const reading = ws.readMessage();
      await pipeline(Readable.from(parts.map((p) => Buffer.from(p))), ws.nextWriter('text'));
      expect((await reading).data.toString()).toBe(parts.join(''));
      await ws.close();
    });

    test('a streamed compressed message may exceed maxPayload in total, each frame within it', async () => {
      const server = await serve(transport, { compression: true, maxPayload: 64 * 1024 }, (ws) => {
        void (async () => {
          const { stream } = await ws.nextReader();
          let total = 0;
          for await (const chunk of stream) total += (chunk as Buffer).length;
          await ws.writeMessage(String(total));
        })().catch(() => undefined);
      });
      const ws = await server.connect({ compression: true });
      const reply = ws.readMessage();
      const chunk = Buffer.alloc(32 * 1024, 0x61);
      await pipeline(Readable.from(Array.from({ length: 64 }, () => chunk)), ws.nextWriter('binary'));
      expect((await reply).data.toString()).toBe(String(64 * chunk.length));
      await ws.close();
    });
  });
});
