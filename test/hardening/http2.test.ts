// Bad requests and faults on WebSockets over HTTP/2 (RFC 8441), from node's raw http2 client: every
// malformed request gets a status (or a stream reset), never a crash; resets, GOAWAY and peers that
// never read stay confined to their stream and bounded in memory.
import * as http2 from 'http2';
import { WebSocket } from '../../src/connection/websocket';
import { Upgrader, type UpgraderOptions } from '../../src/handshake/server';
import { HTTP2_SERVER_CONNECTION_WINDOW, validateHttp2Request } from '../../src/http2/server';
import { liveBytes, sleep, until, within } from '../fuzz/harness';
import { connectHeaders, openSession, rawH2WebSocket, request, startH2Server, tlsMaterial, type H2Server } from '../helpers/http2';
import { clientFrame } from '../fuzz/harness';
import { closed } from '../helpers/pair';

jest.setTimeout(60_000);
const MiB = 1024 * 1024;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Endpoint {
  h2: H2Server;
  accepted: WebSocket[];
  failures: number;
}

/** A server whose WebSockets run `handler` (an echo by default). */
async function endpoint(
  handler: (ws: WebSocket) => void = (ws) => ws.on('message', (d, t) => void ws.writeMessage(d, t).catch(() => undefined)),
  opts: UpgraderOptions = {},
): Promise<Endpoint> {
  const result: Endpoint = { h2: undefined as unknown as H2Server, accepted: [], failures: 0 };
  result.h2 = await startH2Server({ h2c: tlsMaterial === null }, (server) => {
    server.on('request', (_req, res) => res.end('page'));
    new Upgrader(opts).attachHttp2(server, (ws) => {
      result.accepted.push(ws);
      handler(ws);
    });
  });
  cleanups.push(() => {
    for (const ws of result.accepted) ws.terminate();
    return result.h2.close();
  });
  return result;
}

async function session(origin: string): Promise<http2.ClientHttp2Session> {
  const s = await openSession(origin);
  cleanups.push(() => void s.destroy());
  return s;
}

/** The session still serves WebSockets: proof that a fault stayed on its own stream. */
async function stillServes(s: http2.ClientHttp2Session): Promise<void> {
  const { ws } = await rawH2WebSocket(s, '/');
  await ws.writeMessage('alive?');
  expect((await ws.readMessage()).data.toString()).toBe('alive?');
  await ws.close(1000);
}

/** A status, or a reset of the stream: what a malformed request may get. Never a hang. */
async function outcome(s: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<string> {
  const stream = s.request(headers, { endStream: false });
  stream.on('error', () => undefined);
  return within(
    new Promise<string>((resolve) => {
      stream.once('response', (h) => {
        resolve(String(h[':status']));
        stream.close();
      });
      stream.once('close', () => resolve(`RST ${stream.rstCode}`));
    }),
    10_000,
    'an answer to a malformed request',
  );
}

describe('malformed extended CONNECT requests', () => {
  test.each<[string, http2.OutgoingHttpHeaders, RegExp]>([
    ['GET with :protocol websocket', { ':method': 'GET', ':protocol': 'websocket', ':path': '/', 'sec-websocket-version': '13' }, /^(405|RST \d+)$/],
    ['POST with :protocol websocket', { ':method': 'POST', ':protocol': 'websocket', ':path': '/', 'sec-websocket-version': '13' }, /^(405|RST \d+)$/],
    ['CONNECT with an unknown :protocol', connectHeaders('/', { ':protocol': 'x-unknown' }), /^501$/],
    ['CONNECT with an empty-ish :protocol', connectHeaders('/', { ':protocol': 'web socket' }), /^(501|RST \d+)$/],
    ['sec-websocket-version 12', connectHeaders('/', { 'sec-websocket-version': '12' }), /^426$/],
    ['sec-websocket-version "13, 13"', connectHeaders('/', { 'sec-websocket-version': '13, 13' }), /^426$/],
    ['WebSocket CONNECT without :protocol', { ':method': 'CONNECT', ':authority': 'x:1', 'sec-websocket-version': '13' }, /^400$/],
    ['a duplicated Origin', connectHeaders('/', { origin: ['https://a.example', 'https://b.example'] as unknown as string }), /^403$/],
  ])('%s gets a status or a reset, and the session keeps serving', async (_name, headers, expected) => {
    const e = await endpoint();
    const s = await session(e.h2.origin);
    expect(await outcome(s, headers)).toMatch(expected);
    expect(e.accepted).toHaveLength(0);
    await stillServes(s);
  });

  test.each<[string, number, Record<string, string>]>([
    ['no :scheme', 400, { ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/', ':authority': 'h', 'sec-websocket-version': '13' }],
    ['a :scheme of ws', 400, { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'ws', ':path': '/', ':authority': 'h', 'sec-websocket-version': '13' }],
    ['no :path', 400, { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':authority': 'h', 'sec-websocket-version': '13' }],
    ['a :path not starting with /', 400, { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': '*', ':authority': 'h', 'sec-websocket-version': '13' }],
    ['no :authority', 400, { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': '/', 'sec-websocket-version': '13' }],
  ])('%s is refused with %s (node\'s client cannot send these: checked on the validator)', (_name, status, headers) => {
    expect(validateHttp2Request(headers)?.status).toBe(status);
  });
});

describe('faults', () => {
  test('RST_STREAM in the middle of a message: 1006 for that WebSocket only, nothing delivered', async () => {
    const messages: Buffer[] = [];
    const e = await endpoint((ws) =>
      ws.on('message', (d, t) => {
        messages.push(d);
        void ws.writeMessage(d, t).catch(() => undefined);
      }),
    );
    const s = await session(e.h2.origin);
    const { answer } = await request(s, connectHeaders('/')).then((a) => ({ answer: a }));
    expect(answer.status).toBe(200);
    await until(() => e.accepted.length === 1, 10_000, 'the server connection');
    const serverClosed = closed(e.accepted[0]!);
    const frame = clientFrame(0x2, Buffer.alloc(10_000, 7));
    answer.stream.write(frame.subarray(0, 5_000));
    answer.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    expect(await serverClosed).toEqual({ code: 1006, reason: '', wasClean: false });
    expect(messages).toHaveLength(0);
    await stillServes(s);
    expect(messages).toHaveLength(1);
  });

  test('GOAWAY then the connection ending with streams open: 1006 for each of them, other sessions unharmed', async () => {
    const e = await endpoint();
    const s = await session(e.h2.origin);
    const other = await session(e.h2.origin);
    await rawH2WebSocket(s, '/');
    await rawH2WebSocket(s, '/');
    await until(() => e.accepted.length === 2, 10_000, 'the server connections');
    const all = Promise.all(e.accepted.map(closed));
    s.goaway(http2.constants.NGHTTP2_NO_ERROR);
    s.destroy();
    for (const info of await all) expect(info.code).toBe(1006);
    await stillServes(other);
  });

  test('a stream-level flood (CONNECTs reset at once, in a loop) leaves no WebSocket and no memory behind', async () => {
    const e = await endpoint();
    const s = await session(e.h2.origin);
    const before = liveBytes();
    for (let round = 0; round < 10; round++) {
      const streams = Array.from({ length: 50 }, () => {
        const st = s.request(connectHeaders('/'), { endStream: false });
        st.on('error', () => undefined);
        st.close(http2.constants.NGHTTP2_CANCEL);
        return new Promise<void>((r) => st.once('close', () => r()));
      });
      await within(Promise.all(streams), 20_000, 'the reset streams to close');
    }
    // Whatever got accepted before its reset arrived was closed by it.
    await until(() => e.accepted.every((ws) => ws.readyState === 'closed'), 20_000, 'every accepted WebSocket to close');
    await stillServes(s);
    expect(liveBytes() - before).toBeLessThan(8 * MiB);
  });

  test('a peer that never reads: HTTP/2 flow control stalls the writer (awaited writes stop), memory stays bounded', async () => {
    let written = 0;
    let stuck: Promise<void> | null = null;
    const e = await endpoint((ws) => {
      stuck = (async () => {
        const chunk = Buffer.alloc(64 * 1024, 1);
        try {
          for (let i = 0; i < 256; i++) {
            await ws.writeMessage(chunk);
            written += chunk.length;
          }
        } catch {
          /* closed at the end of the test */
        }
      })();
    });
    const s = await session(e.h2.origin);
    const { answer } = await request(s, connectHeaders('/')).then((a) => ({ answer: a }));
    answer.stream.pause();
    await until(() => stuck !== null, 10_000, 'the writer to start');
    // Progress stops at the windows (64 KiB stream window + buffers): without backpressure, 256 awaited
    // writes of 64 KiB would all be done well within this wait.
    await until(() => e.accepted.length === 1 && e.accepted[0]!.bufferedAmount > 0, 10_000, 'the writer to queue data');
    await sleep(500);
    expect(written).toBeLessThan(4 * MiB);
    expect(e.accepted[0]!.bufferedAmount).toBeLessThan(4 * MiB);
    // Reading again lets it finish: backpressure, not a failure.
    answer.stream.resume();
    await within(stuck!, 30_000, 'the writer to finish once the peer reads');
    expect(written).toBe(256 * 64 * 1024);
  });

  test('many streams that the application never reads: each is held to its stream window, so the raised connection window costs no memory', async () => {
    const e = await endpoint(() => undefined);
    const s = await session(e.h2.origin);
    const streams = 50;
    const chunk = Buffer.alloc(1024, 1);
    const perStream = 2 * MiB;
    const before = liveBytes();
    let written = 0;
    const writers: Array<Promise<void>> = [];
    const clients: WebSocket[] = [];
    for (let i = 0; i < streams; i++) {
      const { ws } = await rawH2WebSocket(s, '/');
      clients.push(ws);
      writers.push(
        (async () => {
          try {
            for (let sent = 0; sent < perStream; sent += chunk.length) {
              await ws.writeMessage(chunk);
              written += chunk.length;
            }
          } catch {
            /* closed at the end of the test */
          }
        })(),
      );
    }
    await until(() => e.accepted.length === streams, 10_000, 'every WebSocket');
    expect([...e.h2.sessions][0]!.state.effectiveLocalWindowSize).toBe(HTTP2_SERVER_CONNECTION_WINDOW);
    // Progress stops: each stream at its window (64 KiB, the server's setting) and its WebSocket's inbox. Node
    // gives the connection window back as data arrives, read or not, so the 1 MiB one bounds no memory.
    for (let last = -1, i = 0; written !== last && i < 80; i++) {
      last = written;
      await sleep(250);
    }
    // 100 MiB offered; what got through is a stream window and 16 messages of inbox per WebSocket, plus what each
    // client's writeMessage() takes without waiting (under 256 KiB buffered, then one message): 12.5 MiB measured
    // (3.1 MiB when writes waited from the stream's 16 KiB high-water mark), far below the 100 MiB offered.
    expect(written).toBeLessThan(streams * (128 + 256 + 1) * 1024);
    expect(liveBytes() - before).toBeLessThan(24 * MiB);
    for (const ws of clients) ws.terminate();
    await Promise.all(writers);
  });

  test('a peer that never reads and an application that does not wait: maxBufferedAmount fails it (1008; its stream is reset after closeTimeout), the session lives', async () => {
    let first = true;
    const e = await endpoint((ws) => {
      if (!first) {
        ws.on('message', (d, t) => void ws.writeMessage(d, t).catch(() => undefined));
        return;
      }
      first = false;
      const chunk = Buffer.alloc(64 * 1024, 1);
      for (let i = 0; i < 64; i++) void ws.writeMessage(chunk).catch(() => undefined);
    }, { maxBufferedAmount: MiB, closeTimeout: 500 });
    const s = await session(e.h2.origin);
    const { answer } = await request(s, connectHeaders('/')).then((a) => ({ answer: a }));
    answer.stream.pause();
    await until(() => e.accepted.length === 1, 10_000, 'the server connection');
    const info = await within(closed(e.accepted[0]!), 20_000, 'the slow reader to be closed');
    expect(info.code).toBe(1006);
    expect(e.accepted[0]!.readyState).toBe('closed');
    await stillServes(s);
  });
});
