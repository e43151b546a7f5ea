// The server side of the opening handshake (RFC 6455 §4.2) over real loopback sockets: a raw `net` client
// writes exact request bytes and the test reads exactly what reached the wire.
import * as http from 'http';
import * as net from 'net';
import type * as stream from 'stream';
import { HandshakeError } from '../../src/errors';
import { WebSocket } from '../../src/connection/websocket';
import { connect } from '../../src/handshake/client';
import { Upgrader, writeHandshakeError, type UpgraderOptions } from '../../src/handshake/server';
import { WebSocketServer } from '../../src/server';

const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

interface Answer {
  raw: Buffer;
  statusLine: string;
  status: number;
  /** Header lines in order, names lower-cased. */
  headers: [string, string][];
  body: string;
  /** Whether the server closed the connection. */
  closed: boolean;
}

function header(answer: Answer, name: string): string | undefined {
  return answer.headers.find(([n]) => n === name.toLowerCase())?.[1];
}

function headersNamed(answer: Answer, name: string): string[] {
  return answer.headers.filter(([n]) => n === name.toLowerCase()).map(([, v]) => v);
}

function parseAnswer(raw: Buffer, closed: boolean): Answer {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: [string, string][] = lines
    .filter((l) => l !== '')
    .map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
    });
  const status = Number(statusLine.split(' ')[1] ?? 0);
  return { raw, statusLine, status, headers, body: end === -1 ? '' : text.slice(end + 4), closed };
}

interface Harness {
  port: number;
  outcomes: Promise<WebSocket | Error>[];
  server: http.Server;
  /** Sockets handed to upgrade(), for inspection. */
  sockets: stream.Duplex[];
  close(): Promise<void>;
}

const harnesses: Harness[] = [];
const clients: net.Socket[] = [];

async function startServer(
  opts: UpgraderOptions = {},
  responseHeaders?: http.OutgoingHttpHeaders,
  beforeUpgrade?: (req: http.IncomingMessage, socket: stream.Duplex) => void,
): Promise<Harness> {
  const upgrader = new Upgrader(opts);
  const outcomes: Promise<WebSocket | Error>[] = [];
  const sockets: stream.Duplex[] = [];
  const server = http.createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (req: http.IncomingMessage, socket: stream.Duplex, head: Buffer) => {
    sockets.push(socket);
    beforeUpgrade?.(req, socket);
    outcomes.push(
      upgrader.upgrade(req, socket, head, responseHeaders).then(
        (ws) => ws,
        (e: Error) => e,
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const harness: Harness = {
    port,
    outcomes,
    server,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  harnesses.push(harness);
  return harness;
}

/** Like startServer, but also calls upgrade() for requests node did not classify as upgrades. */
async function startServerOnRequests(opts: UpgraderOptions = {}): Promise<Harness> {
  const h = await startServer(opts);
  const upgrader = new Upgrader(opts);
  h.server.removeAllListeners('request');
  h.server.on('request', (req: http.IncomingMessage) => {
    h.outcomes.push(upgrader.upgrade(req, req.socket, Buffer.alloc(0)).then((ws) => ws, (e: Error) => e));
  });
  return h;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

function requestText(
  port: number,
  overrides: Record<string, string | string[] | null> = {},
  { method = 'GET', path = '/', version = 'HTTP/1.1' } = {},
): string {
  const base: Record<string, string | string[] | null> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': RFC_KEY,
    'Sec-WebSocket-Version': '13',
  };
  const all = { ...base, ...overrides };
  let text = `${method} ${path} ${version}\r\n`;
  for (const [name, value] of Object.entries(all)) {
    if (value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) text += `${name}: ${v}\r\n`;
  }
  return `${text}\r\n`;
}

/**
 * Sends `request` and collects the answer. Resolves when the server closes the connection, or — for a
 * 101, whose connection stays open — as soon as the full head has arrived.
 */
function exchange(port: number, request: string | Buffer, timeoutMs = 5000): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    clients.push(socket);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(parseAnswer(Buffer.concat(chunks), closed));
    };
    const timer = setTimeout(() => {
      done = true;
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms: ${Buffer.concat(chunks).toString('latin1')}`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const text = Buffer.concat(chunks).toString('latin1');
      if (text.startsWith('HTTP/1.1 101') && text.includes('\r\n\r\n')) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('end', () => socket.end());
    socket.write(request);
  });
}

async function outcome(h: Harness, index = 0): Promise<WebSocket | Error> {
  for (let i = 0; i < 200 && h.outcomes.length <= index; i++) await new Promise((r) => setTimeout(r, 10));
  const o = h.outcomes[index];
  if (!o) throw new Error('upgrade() was never called');
  return o;
}

async function expectRefusal(h: Harness, answer: Answer, status: number, message: RegExp): Promise<HandshakeError> {
  expect(answer.status).toBe(status);
  expect(answer.statusLine).toBe(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`);
  expect(header(answer, 'connection')).toBe('close');
  expect(header(answer, 'content-type')).toMatch(/^text\/plain/);
  expect(Number(header(answer, 'content-length'))).toBe(Buffer.byteLength(answer.body, 'latin1'));
  expect(answer.closed).toBe(true);
  const err = await outcome(h);
  expect(err).toBeInstanceOf(HandshakeError);
  const he = err as HandshakeError;
  expect(he.status).toBe(status);
  expect(he.message).toMatch(message);
  if (status < 500) expect(answer.body).toBe(he.message);
  return he;
}

describe('refusals: each rule has its own HTTP answer', () => {
  it('400 when Connection lacks the upgrade token', async () => {
    // Node emits 'upgrade' only when Connection has the token; an application calling upgrade() from
    // 'request' must still get the right answer.
    const h = await startServerOnRequests();
    const a = await exchange(h.port, requestText(h.port, { Connection: 'keep-alive' }));
    await expectRefusal(h, a, 400, /'upgrade' token not found in the Connection header/);
  });

  it('400 when Connection is missing', async () => {
    const h = await startServerOnRequests();
    const a = await exchange(h.port, requestText(h.port, { Connection: null }));
    await expectRefusal(h, a, 400, /'upgrade' token not found/);
  });

  it('400 when Upgrade is not websocket', async () => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, { Upgrade: 'h2c' }));
    await expectRefusal(h, a, 400, /'websocket' not found in the Upgrade header/);
  });

  it('405 with Allow: GET for another method', async () => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, { 'Content-Length': '0' }, { method: 'POST' }));
    await expectRefusal(h, a, 405, /must be a GET request/);
    expect(header(a, 'allow')).toBe('GET');
  });

  it('400 for HTTP/1.0', async () => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, {}, { version: 'HTTP/1.0' }));
    await expectRefusal(h, a, 400, /HTTP\/1\.1 or later/);
  });

  it('400 without Host', async () => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, { Host: null }));
    await expectRefusal(h, a, 400, /Missing Host header/);
  });

  it('400 with two Host headers', async () => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, { Host: ['a.example', 'b.example'] }));
    // node's parser may refuse this itself; if it reaches us, we refuse it.
    if (h.outcomes.length > 0) await expectRefusal(h, a, 400, /Duplicated Host header/);
    else expect(a.status).toBe(400);
  });

  it.each([
    ['8', '8'],
    ['14', '14'],
    ['13 with junk', '13x'],
    ['a list', '13, 8'],
  ])('426 with Sec-WebSocket-Version: 13 for version %s', async (_name, version) => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, { 'Sec-WebSocket-Version': version }));
    await expectRefusal(h, a, 426, /Sec-WebSocket-Version must be 13/);
    expect(header(a, 'sec-websocket-version')).toBe('13');
  });

  it('426 when Sec-WebSocket-Version is missing', async () => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, { 'Sec-WebSocket-Version': null }));
    await expectRefusal(h, a, 426, /Sec-WebSocket-Version must be 13/);
    expect(header(a, 'sec-websocket-version')).toBe('13');
  });

  it('400 when Sec-WebSocket-Key is missing', async () => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, { 'Sec-WebSocket-Key': null }));
    await expectRefusal(h, a, 400, /Missing Sec-WebSocket-Key/);
  });

  it('400 when Sec-WebSocket-Key is duplicated (even with identical values)', async () => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, { 'Sec-WebSocket-Key': [RFC_KEY, RFC_KEY] }));
    await expectRefusal(h, a, 400, /Duplicated Sec-WebSocket-Key/);
  });

  it.each([
    ['too short', 'dGhlIHNhbXBsZQ=='],
    ['17 bytes', 'dGhlIHNhbXBsZSBub25jZQA='],
    ['bad alphabet', 'dGhlIHNhbXBsZSBub25j*Q=='],
    ['not base64 at all', 'hello'],
    ['empty', ''],
  ])('400 when Sec-WebSocket-Key is %s', async (_name, key) => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, { 'Sec-WebSocket-Key': key }));
    await expectRefusal(h, a, key === '' ? 400 : 400, /Sec-WebSocket-Key/);
  });

  it('403 for a cross-origin request (default checkOrigin)', async () => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, { Origin: 'https://evil.example' }));
    await expectRefusal(h, a, 403, /Origin not allowed/);
  });

  it('403 for an opaque (null) Origin', async () => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port, { Origin: 'null' }));
    await expectRefusal(h, a, 403, /Origin not allowed/);
  });

  it('403 when an async checkOrigin resolves false', async () => {
    const h = await startServer({ checkOrigin: () => new Promise((r) => setTimeout(() => r(false), 20)) });
    const a = await exchange(h.port, requestText(h.port));
    await expectRefusal(h, a, 403, /Origin not allowed/);
  });

  it('500 when checkOrigin throws, without leaking its message', async () => {
    const h = await startServer({
      checkOrigin: () => {
        throw new Error('secret internals');
      },
    });
    const a = await exchange(h.port, requestText(h.port));
    await expectRefusal(h, a, 500, /checkOrigin threw: secret internals/);
    expect(a.body).not.toContain('secret');
  });

  it.each(['Sec-WebSocket-Extensions', 'sec-websocket-extensions', 'SEC-WEBSOCKET-EXTENSIONS'])(
    '500 when responseHeaders set %s',
    async (name) => {
      const h = await startServer({}, { [name]: 'permessage-deflate' });
      const a = await exchange(h.port, requestText(h.port));
      await expectRefusal(h, a, 500, /must not set .*Sec-WebSocket-Extensions/i);
      expect(a.raw.toString('latin1')).not.toContain('permessage-deflate');
    },
  );

  it.each(['Upgrade', 'connection', 'Sec-WebSocket-Accept'])('500 when responseHeaders set %s', async (name) => {
    const h = await startServer({}, { [name]: 'x' });
    const a = await exchange(h.port, requestText(h.port));
    await expectRefusal(h, a, 500, /must not set/);
  });

  it.each([
    ['CRLF in a value', { 'X-A': 'v\r\nInjected: 1' }],
    ['LF in a value', { 'X-A': 'v\nInjected: 1' }],
    ['CR in a value', { 'X-A': 'v\rInjected: 1' }],
    ['NUL in a value', { 'X-A': 'v\u0000Injected: 1' }],
    ['CRLF in an array value', { 'Set-Cookie': ['a=1', 'b=2\r\nInjected: 1'] }],
    ['CRLF in a name', { 'X-A\r\nInjected: 1\r\nX-B': 'v' }],
  ])('500 and nothing of it on the wire: %s', async (_name, responseHeaders) => {
    const h = await startServer({}, responseHeaders as http.OutgoingHttpHeaders);
    const a = await exchange(h.port, requestText(h.port));
    await expectRefusal(h, a, 500, /Invalid responseHeaders/);
    const wire = a.raw.toString('latin1');
    expect(wire).not.toContain('Injected');
    expect(wire).not.toContain('X-A');
    expect(wire).not.toContain('101');
    const err = (await outcome(h)) as Error;
    expect(err.message).not.toMatch(/[\r\n\u0000]/);
  });

  it('calls onError instead of answering itself', async () => {
    const calls: [number, string][] = [];
    const h = await startServer({
      onError: (_req, socket, status, reason) => {
        calls.push([status, reason.message]);
        writeHandshakeError(socket, status, 'custom body', { 'X-Custom': 'yes' });
      },
    });
    const a = await exchange(h.port, requestText(h.port, { 'Sec-WebSocket-Version': '8' }));
    expect(a.status).toBe(426);
    expect(a.body).toBe('custom body');
    expect(header(a, 'x-custom')).toBe('yes');
    expect(calls).toEqual([[426, 'Unsupported WebSocket version: Sec-WebSocket-Version must be 13']]);
    expect(await outcome(h)).toBeInstanceOf(HandshakeError);
  });

  it('destroys the socket when onError throws', async () => {
    const h = await startServer({
      onError: () => {
        throw new Error('handler bug');
      },
    });
    const a = await exchange(h.port, requestText(h.port, { Upgrade: 'h2c' }));
    expect(a.raw.length).toBe(0);
    expect(a.closed).toBe(true);
    expect(((await outcome(h)) as HandshakeError).status).toBe(400);
  });
});

describe('the 101 answer', () => {
  it('is well-formed, with the RFC accept value, in one write', async () => {
    const writes: string[] = [];
    const h = await startServer({}, undefined, (_req, socket) => {
      const original = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      (socket as { write: unknown }).write = (...args: unknown[]) => {
        writes.push(String(args[0]));
        return original(...args);
      };
    });
    const a = await exchange(h.port, requestText(h.port));
    expect(a.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(header(a, 'upgrade')).toBe('websocket');
    expect(header(a, 'connection')).toBe('Upgrade');
    expect(header(a, 'sec-websocket-accept')).toBe(RFC_ACCEPT);
    expect(header(a, 'sec-websocket-protocol')).toBeUndefined();
    expect(header(a, 'sec-websocket-extensions')).toBeUndefined();
    expect(a.raw.toString('latin1').endsWith('\r\n\r\n')).toBe(true);
    expect(writes.filter((w) => w.includes('101 Switching Protocols'))).toHaveLength(1);
    expect(writes[0]).toBe(a.raw.toString('latin1'));
    await outcome(h);
  });

  it.each([
    ['Connection: keep-alive, Upgrade', { Connection: 'keep-alive, Upgrade' }],
    ['lower-case tokens', { Connection: 'upgrade', Upgrade: 'websocket' }],
    ['upper-case tokens', { Connection: 'UPGRADE', Upgrade: 'WebSocket' }],
    ['same Origin', { Origin: 'http://127.0.0.1:PORT' }],
  ])('accepts %s', async (_name, overrides) => {
    const h = await startServer();
    const fixed = Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, v.replace('PORT', String(h.port))]));
    const a = await exchange(h.port, requestText(h.port, fixed));
    expect(a.status).toBe(101);
    await outcome(h);
  });

  it('accepts any Origin with a permissive checkOrigin', async () => {
    const h = await startServer({ checkOrigin: () => true });
    const a = await exchange(h.port, requestText(h.port, { Origin: 'https://elsewhere.example' }));
    expect(a.status).toBe(101);
    await outcome(h);
  });

  it('adds responseHeaders: arrays as repeated lines, numbers stringified', async () => {
    const h = await startServer({}, { 'Set-Cookie': ['a=1', 'b=2'], 'X-Number': 7, 'X-Undefined': undefined });
    const a = await exchange(h.port, requestText(h.port));
    expect(a.status).toBe(101);
    expect(headersNamed(a, 'set-cookie')).toEqual(['a=1', 'b=2']);
    expect(header(a, 'x-number')).toBe('7');
    expect(header(a, 'x-undefined')).toBeUndefined();
    await outcome(h);
  });

  it('turns the socket timeouts off and Nagle off', async () => {
    let socketRef: net.Socket | undefined;
    const h = await startServer({}, undefined, (_req, socket) => {
      socketRef = socket as net.Socket;
      socketRef.setTimeout(12345);
    });
    await exchange(h.port, requestText(h.port));
    await outcome(h);
    expect(socketRef?.timeout ?? 0).toBe(0);
  });
});

describe('subprotocol selection', () => {
  it.each([
    ['the first of the server list the client offered', ['b', 'a'], 'a, b', 'b'],
    ['one offered out of many', ['x', 'y', 'chat'], 'chat', 'chat'],
    ['offers over several header lines', ['b'], ['a', 'b'], 'b'],
    ['case-sensitively', ['Chat'], 'chat', undefined],
    ['none when nothing matches', ['a'], 'c, d', undefined],
    ['none when the client offered nothing', ['a'], null, undefined],
  ])('%s', async (_name, serverList, offered, expected) => {
    const h = await startServer({ subprotocols: serverList as string[] });
    const a = await exchange(h.port, requestText(h.port, { 'Sec-WebSocket-Protocol': offered as string | string[] | null }));
    expect(a.status).toBe(101);
    expect(header(a, 'sec-websocket-protocol')).toBe(expected);
    await outcome(h);
  });

  it('takes the protocol from responseHeaders when no subprotocols are configured (gorilla)', async () => {
    const h = await startServer({}, { 'Sec-WebSocket-Protocol': 'b' });
    const a = await exchange(h.port, requestText(h.port, { 'Sec-WebSocket-Protocol': 'a, b' }));
    expect(a.status).toBe(101);
    expect(headersNamed(a, 'sec-websocket-protocol')).toEqual(['b']);
    await outcome(h);
  });

  it('500 when responseHeaders choose a protocol the client did not offer', async () => {
    const h = await startServer({}, { 'Sec-WebSocket-Protocol': 'c' });
    const a = await exchange(h.port, requestText(h.port, { 'Sec-WebSocket-Protocol': 'a, b' }));
    await expectRefusal(h, a, 500, /did not offer/);
  });

  it('rejects a non-token subprotocol in the options', () => {
    expect(() => new Upgrader({ subprotocols: ['a b'] })).toThrow(SyntaxError);
    expect(() => new Upgrader({ subprotocols: ['a\r\nX: y'] })).toThrow(SyntaxError);
  });
});

describe('robustness', () => {
  it('times out a handshake that cannot complete, destroying the socket', async () => {
    const h = await startServer({ handshakeTimeout: 100, checkOrigin: () => new Promise<boolean>(() => undefined) });
    const started = Date.now();
    const a = await exchange(h.port, requestText(h.port));
    expect(a.raw.length).toBe(0);
    expect(a.closed).toBe(true);
    const err = (await outcome(h)) as HandshakeError;
    expect(err).toBeInstanceOf(HandshakeError);
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/timed out after 100 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a late checkOrigin answer after the timeout changes nothing', async () => {
    const h = await startServer({ handshakeTimeout: 50, checkOrigin: () => new Promise((r) => setTimeout(() => r(true), 150)) });
    const a = await exchange(h.port, requestText(h.port));
    expect(a.raw.length).toBe(0);
    expect(((await outcome(h)) as Error).message).toMatch(/timed out/);
    await new Promise((r) => setTimeout(r, 200));
  });

  it('rejects, without crashing, when the socket is already destroyed', async () => {
    const h = await startServer({}, undefined, (_req, socket) => socket.destroy());
    const a = await exchange(h.port, requestText(h.port));
    expect(a.raw.length).toBe(0);
    const err = (await outcome(h)) as HandshakeError;
    expect(err).toBeInstanceOf(HandshakeError);
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/already closed/);
  });

  it('rejects when the client resets the connection during an async origin check', async () => {
    const h = await startServer({ checkOrigin: () => new Promise((r) => setTimeout(() => r(true), 100)) });
    const socket = net.connect(h.port, '127.0.0.1');
    clients.push(socket);
    socket.on('error', () => undefined);
    socket.write(requestText(h.port));
    while (h.outcomes.length === 0) await new Promise((r) => setTimeout(r, 5));
    socket.resetAndDestroy();
    const err = (await outcome(h)) as HandshakeError;
    expect(err).toBeInstanceOf(HandshakeError);
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/Socket error|closed during the opening handshake/);
  });

  it('rejects when a socket error happens during the handshake', async () => {
    const h = await startServer({ checkOrigin: () => new Promise((r) => setTimeout(() => r(true), 100)) }, undefined, (_req, socket) => {
      setTimeout(() => socket.destroy(new Error('boom')), 10);
    });
    await exchange(h.port, requestText(h.port));
    const err = (await outcome(h)) as HandshakeError;
    expect(err).toBeInstanceOf(HandshakeError);
    expect(err.message).toMatch(/boom|closed during/);
  });

  it('never answers twice nor crashes on a flood of bad requests', async () => {
    const h = await startServer();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        exchange(h.port, requestText(h.port, i % 2 ? { 'Sec-WebSocket-Key': 'bad' } : { Upgrade: 'nope' })),
      ),
    );
    for (const a of answers) {
      expect(a.status).toBe(400);
      expect(a.raw.toString('latin1').match(/HTTP\/1\.1/g)).toHaveLength(1);
    }
  });

  it('validates its options', () => {
    expect(() => new Upgrader({ handshakeTimeout: -1 })).toThrow(RangeError);
    expect(() => new Upgrader({ maxPayload: 1.5 })).toThrow(RangeError);
  });
});

describe('successful upgrades (: pass once the real WebSocket lands)', () => {
  it('resolves with a WebSocket', async () => {
    const h = await startServer();
    const a = await exchange(h.port, requestText(h.port));
    expect(a.status).toBe(101);
    const ws = await outcome(h);
    expect(ws).toBeInstanceOf(WebSocket);
  });

  it('hands the bytes that arrived with the request (head) to the connection', async () => {
    const h = await startServer();
    // A masked text frame "hi" rides in the same segment as the request head.
    const mask = [1, 2, 3, 4];
    const payload = Buffer.from('hi').map((b, i) => b ^ (mask[i % 4] as number));
    const frame = Buffer.concat([Buffer.from([0x81, 0x82, ...mask]), payload]);
    const request = Buffer.concat([Buffer.from(requestText(h.port), 'latin1'), frame]);
    const a = await exchange(h.port, request);
    expect(a.status).toBe(101);
    const ws = await outcome(h);
    expect(ws).toBeInstanceOf(WebSocket);
    const message = await (ws as WebSocket).readMessage();
    expect(message.type).toBe('text');
    expect(message.data.toString()).toBe('hi');
  });

  it('passes the agreed subprotocol to the connection', async () => {
    const h = await startServer({ subprotocols: ['chat'] });
    await exchange(h.port, requestText(h.port, { 'Sec-WebSocket-Protocol': 'x, chat' }));
    const ws = (await outcome(h)) as WebSocket;
    expect(ws).toBeInstanceOf(WebSocket);
    expect(ws.protocol).toBe('chat');
    expect(ws.isServer).toBe(true);
    expect(ws.extensions).toBe('');
  });
});

describe('WebSocketServer helper (for the connection cases)', () => {

  function plainGet(port: number, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, headers: res.headers });
        })
        .on('error', reject);
    });
  }

  it('accepts connections on its path, tracks them, and shuts down with 1001', async () => {
    const seen: string[] = [];
    const wss = new WebSocketServer({ host: '127.0.0.1', path: '/ws' }, (_ws, req) => seen.push(req.url ?? ''));
    const { port } = await wss.listen();
    expect(wss.address()?.port).toBe(port);

    const client = await connect(`ws://127.0.0.1:${port}/ws?token=1`);
    while (wss.clients.size === 0) await new Promise((r) => setTimeout(r, 5));
    expect(seen).toEqual(['/ws?token=1']);

    const clientClosed = new Promise<{ code: number; reason: string }>((resolve) => client.once('close', resolve));
    await wss.close();
    const info = await clientClosed;
    expect(info.code).toBe(1001);
    expect(info.reason).toBe('Server shutting down');
    expect(wss.clients.size).toBe(0);
    expect(wss.address()).toBeNull();
    await expect(wss.close()).resolves.toBeUndefined(); // idempotent
  });

  it('answers plain HTTP with 426 on its path and 404 elsewhere; upgrades elsewhere get 404', async () => {
    const errors: Error[] = [];
    const wss = new WebSocketServer({ host: '127.0.0.1', path: '/ws' });
    wss.on('handshakeError', (err: Error) => errors.push(err));
    const { port } = await wss.listen();
    try {
      const plain = await plainGet(port, '/ws');
      expect(plain.status).toBe(426);
      expect(plain.headers['upgrade']).toBe('websocket');
      expect((await plainGet(port, '/other')).status).toBe(404);
      const a = await exchange(port, requestText(port, {}, { path: '/other' }));
      expect(a.status).toBe(404);
      const refused = await exchange(port, requestText(port, { 'Sec-WebSocket-Version': '7' }, { path: '/ws' }));
      expect(refused.status).toBe(426);
      while (errors.length === 0) await new Promise((r) => setTimeout(r, 5));
      expect((errors[0] as HandshakeError).status).toBe(426);
    } finally {
      await wss.close();
    }
  });

  it('on a shared server, leaves other paths to other upgrade listeners', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server, path: '/ws' });
    const other: string[] = [];
    server.on('upgrade', (req: http.IncomingMessage, socket: stream.Duplex) => {
      if (req.url === '/mine') {
        other.push(req.url);
        writeHandshakeError(socket, 418, 'teapot');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const a = await exchange(port, requestText(port, {}, { path: '/mine' }));
      expect(a.status).toBe(418);
      expect(a.raw.toString('latin1').match(/HTTP\/1\.1/g)).toHaveLength(1);
      expect(other).toEqual(['/mine']);
      await expect(wss.listen()).rejects.toThrow(/only for the server/);
    } finally {
      await wss.close();
      expect(server.listening).toBe(true); // not ours to close
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('refuses new upgrades with 503 while closing, and closes handshakes that were in flight', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({
      server,
      upgrader: { checkOrigin: () => new Promise((r) => setTimeout(() => r(true), 150)) },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const inFlight = net.connect(port, '127.0.0.1');
      clients.push(inFlight);
      let inFlightText = '';
      inFlight.on('data', (d: Buffer) => (inFlightText += d.toString('latin1')));
      inFlight.write(requestText(port));
      await new Promise((r) => setTimeout(r, 30)); // the handshake is now waiting on checkOrigin
      const closing = wss.close();
      const late = await exchange(port, requestText(port));
      expect(late.status).toBe(503);
      inFlight.on('data', () => {
        // Answer the server's Close frame (masked, code 1001) so the closing handshake completes.
        if (inFlightText.includes('Server shutting down')) inFlight.end(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9]));
      });
      await closing;
      expect(inFlightText).toMatch(/^HTTP\/1\.1 101 /);
      expect(inFlightText).toContain('Server shutting down');
      expect(wss.clients.size).toBe(0);
    } finally {
      await new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
    }
  });

  it('a throwing connection or handshakeError listener reaches its error event, and the server goes on serving', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1' });
    const errors: unknown[] = [];
    wss.on('error', (err: unknown) => errors.push(err));
    wss.on('connection', () => {
      throw new Error('connection listener failed');
    });
    wss.on('handshakeError', () => {
      throw new Error('handshakeError listener failed');
    });
    const { port } = await wss.listen();
    try {
      const refused = await exchange(port, requestText(port, { 'Sec-WebSocket-Version': '7' }));
      expect(refused.status).toBe(426);
      const first = await connect(`ws://127.0.0.1:${port}/`);
      const second = await connect(`ws://127.0.0.1:${port}/`);
      expect(second.readyState).toBe('open');
      while (errors.length < 3) await new Promise((r) => setTimeout(r, 5));
      expect(errors.map((e) => (e as Error).message).sort()).toEqual([
        'connection listener failed',
        'connection listener failed',
        'handshakeError listener failed',
      ]);
      await Promise.all([first.close(), second.close()]);
    } finally {
      await wss.close();
    }
  });

  it('rejects port/host together with server, and a relative path', () => {
    expect(() => new WebSocketServer({ server: http.createServer(), port: 1 })).toThrow(TypeError);
    expect(() => new WebSocketServer({ path: 'ws' })).toThrow(TypeError);
  });
});
