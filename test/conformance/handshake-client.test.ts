// The client side of the opening handshake (RFC 6455 §4.1): connect() against a raw `net` server that
// answers crafted responses, and against real Upgrader servers (ws:// and wss://).
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import type * as stream from 'stream';
import { WebSocket } from '../../src/connection/websocket';
import { HandshakeError } from '../../src/errors';
import { computeAcceptKey, isValidKey } from '../../src/handshake/accept';
import { connect } from '../../src/handshake/client';
import { Upgrader } from '../../src/handshake/server';
import { makeCertificate } from '../helpers/tls';

interface SeenRequest {
  requestLine: string;
  headers: [string, string][];
  key: string;
}

function get(req: SeenRequest, name: string): string | undefined {
  return req.headers.find(([n]) => n === name.toLowerCase())?.[1];
}

interface RawServer {
  port: number;
  requests: SeenRequest[];
  connections: number;
  /** Resolves when a connection the server accepted has closed. */
  closed: Promise<void>;
  close(): Promise<void>;
}

const servers: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A TCP server that reads one request head and lets `respond` answer it (or not) with raw bytes. */
async function rawServer(respond: ((req: SeenRequest, socket: net.Socket) => void) | null): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  let markClosed: () => void = () => undefined;
  const state: RawServer = {
    port: 0,
    requests: [],
    connections: 0,
    closed: new Promise<void>((resolve) => (markClosed = resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      markClosed();
    });
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1 || buffered === '') return;
      const [requestLine = '', ...lines] = buffered.slice(0, end).split('\r\n');
      buffered = '';
      const headers = lines.map((l): [string, string] => {
        const i = l.indexOf(':');
        return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
      });
      const req: SeenRequest = { requestLine, headers, key: headers.find(([n]) => n === 'sec-websocket-key')?.[1] ?? '' };
      state.requests.push(req);
      respond?.(req, socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  servers.push(state);
  return state;
}

function answer101(req: SeenRequest, extra = '', overrides: { accept?: string; upgrade?: string | null; connection?: string | null } = {}): string {
  let text = 'HTTP/1.1 101 Switching Protocols\r\n';
  if (overrides.upgrade !== null) text += `Upgrade: ${overrides.upgrade ?? 'websocket'}\r\n`;
  if (overrides.connection !== null) text += `Connection: ${overrides.connection ?? 'Upgrade'}\r\n`;
  text += `Sec-WebSocket-Accept: ${overrides.accept ?? computeAcceptKey(req.key)}\r\n`;
  return `${text}${extra}\r\n`;
}

async function expectHandshakeError(p: Promise<unknown>, status: number, message: RegExp): Promise<HandshakeError> {
  const err = await p.then(
    () => new Error('connect() resolved'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HandshakeError);
  const he = err as HandshakeError;
  expect(he.message).toMatch(message);
  expect(he.status).toBe(status);
  return he;
}

describe('the request connect() sends', () => {
  it('has every header of RFC 6455 §4.1', async () => {
    const s = await rawServer((_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    await connect(`ws://127.0.0.1:${s.port}/chat/room?x=1&y=2`, {
      protocols: ['v2.chat', 'v1.chat'],
      origin: 'https://example.com',
      headers: { Cookie: 'a=b', 'X-Custom': 'yes' },
    }).catch(() => undefined);
    const req = s.requests[0] as SeenRequest;
    expect(req.requestLine).toBe('GET /chat/room?x=1&y=2 HTTP/1.1');
    expect(get(req, 'host')).toBe(`127.0.0.1:${s.port}`);
    expect(get(req, 'upgrade')).toBe('websocket');
    expect(get(req, 'connection')).toBe('Upgrade');
    expect(isValidKey(req.key)).toBe(true);
    expect(get(req, 'sec-websocket-version')).toBe('13');
    expect(get(req, 'sec-websocket-protocol')).toBe('v2.chat, v1.chat');
    expect(get(req, 'origin')).toBe('https://example.com');
    expect(get(req, 'cookie')).toBe('a=b');
    expect(get(req, 'x-custom')).toBe('yes');
    expect(get(req, 'sec-websocket-extensions')).toBeUndefined();
    expect(req.headers.filter(([n]) => n === 'connection')).toHaveLength(1);
  });

  it('uses a fresh key each time, / for an empty path, and no Origin unless asked', async () => {
    const s = await rawServer((_req, socket) => socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'));
    await connect(`ws://127.0.0.1:${s.port}`).catch(() => undefined);
    await connect(`ws://127.0.0.1:${s.port}`).catch(() => undefined);
    const [a, b] = s.requests as [SeenRequest, SeenRequest];
    expect(a.requestLine).toBe('GET / HTTP/1.1');
    expect(a.key).not.toBe(b.key);
    expect(get(a, 'origin')).toBeUndefined();
    expect(get(a, 'sec-websocket-protocol')).toBeUndefined();
  });

  it('sends Basic authorization for credentials in the URL', async () => {
    const s = await rawServer((_req, socket) => socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'));
    await expectHandshakeError(connect(`ws://us%20er:p%40ss@127.0.0.1:${s.port}/`), 401, /Unexpected server response: 401/);
    expect(get(s.requests[0] as SeenRequest, 'authorization')).toBe(`Basic ${Buffer.from('us er:p@ss').toString('base64')}`);
  });

  it('brackets an IPv6 host in Host', async () => {
    let server: net.Server;
    try {
      server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '::1', resolve);
      });
    } catch {
      return; // no IPv6 loopback here
    }
    const port = (server.address() as net.AddressInfo).port;
    const seen = new Promise<string>((resolve) => {
      server.on('connection', (socket) => {
        socket.once('data', (d: Buffer) => {
          resolve(d.toString('latin1'));
          socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
        });
      });
    });
    servers.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
    await connect(`ws://[::1]:${port}/`).catch(() => undefined);
    expect(await seen).toContain(`\r\nHost: [::1]:${port}\r\n`);
  });
});

describe('argument checks (before anything is sent)', () => {
  it.each([
    ['ftp:', 'ftp://example.com/'],
    ['file:', 'file:///tmp/x'],
    ['no scheme', 'example.com'],
    ['a fragment', 'ws://example.com/#frag'],
    ['an empty fragment', 'ws://example.com/#'],
  ])('TypeError for %s', async (_name, url) => {
    await expect(connect(url)).rejects.toThrow(TypeError);
  });

  it('TypeError for a URL object with a fragment', async () => {
    await expect(connect(new URL('ws://example.com/a#b'))).rejects.toThrow(/fragment/);
  });

  it.each([
    ['not a token', ['a b']],
    ['a separator', ['a,b']],
    ['CRLF', ['a\r\nX-Injected: 1']],
    ['empty', ['']],
    ['duplicates', ['chat', 'chat']],
  ])('SyntaxError for protocols with %s', async (_name, protocols) => {
    await expect(connect('ws://127.0.0.1:9/', { protocols })).rejects.toThrow(SyntaxError);
  });

  it.each([
    ['CRLF in a value', { 'X-A': 'v\r\nInjected: 1' }],
    ['LF in a value', { 'X-A': 'v\nInjected: 1' }],
    ['NUL in a value', { 'X-A': 'v\u0000' }],
    ['CRLF in a name', { 'X-A\r\nInjected': 'v' }],
    ['a handshake header', { 'Sec-WebSocket-Key': 'AAAAAAAAAAAAAAAAAAAAAA==' }],
    ['Sec-WebSocket-Protocol', { 'sec-websocket-protocol': 'chat' }],
    ['Connection', { Connection: 'close' }],
  ])('TypeError for headers with %s', async (_name, headers) => {
    await expect(connect('ws://127.0.0.1:9/', { headers })).rejects.toThrow(TypeError);
  });

  it('TypeError for an origin with CRLF', async () => {
    await expect(connect('ws://127.0.0.1:9/', { origin: 'https://a\r\nX: y' })).rejects.toThrow(TypeError);
  });

  it('rejects with the network error when nothing listens', async () => {
    const s = await rawServer(null);
    const port = s.port;
    await s.close();
    servers.pop();
    await expect(connect(`ws://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('rejects with the DNS error for an unresolvable host', async () => {
    await expect(connect('ws://does-not-exist.invalid/', { handshakeTimeout: 5000 })).rejects.toMatchObject({
      code: expect.stringMatching(/ENOTFOUND|EAI_AGAIN/),
    });
  });
});

describe('crafted server answers', () => {
  it('HandshakeError 403 for a 403 answer (body consumed)', async () => {
    const s = await rawServer((_req, socket) =>
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nforbidden'),
    );
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`), 403, /^Unexpected server response: 403$/);
  });

  it('HandshakeError 200 for a plain HTTP answer that keeps the connection open', async () => {
    const s = await rawServer((_req, socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'));
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`), 200, /Unexpected server response: 200/);
    await s.closed;
  });

  it('fails on a wrong Sec-WebSocket-Accept', async () => {
    const s = await rawServer((req, socket) => socket.write(answer101(req, '', { accept: computeAcceptKey('AAAAAAAAAAAAAAAAAAAAAA==') })));
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`), 101, /Sec-WebSocket-Accept does not match/);
    await s.closed; // the client destroyed the socket
  });

  it('fails on a missing Sec-WebSocket-Accept', async () => {
    const s = await rawServer((_req, socket) =>
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
    );
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`), 101, /missing Sec-WebSocket-Accept/);
  });

  it('fails on two Sec-WebSocket-Accept headers', async () => {
    const s = await rawServer((req, socket) => socket.write(answer101(req, `Sec-WebSocket-Accept: ${computeAcceptKey(req.key)}\r\n`)));
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`), 101, /duplicated Sec-WebSocket-Accept/);
  });

  it('fails on a missing Upgrade header', async () => {
    const s = await rawServer((req, socket) => socket.write(answer101(req, '', { upgrade: null })));
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`), 101, /Upgrade header/);
  });

  it('fails on Upgrade: h2c', async () => {
    const s = await rawServer((req, socket) => socket.write(answer101(req, '', { upgrade: 'h2c' })));
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`), 101, /Upgrade header/);
  });

  it('fails on a missing Connection: upgrade', async () => {
    const s = await rawServer((req, socket) => socket.write(answer101(req, '', { connection: 'keep-alive' })));
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`), 101, /Connection header/);
  });

  it('fails on a subprotocol that was not offered', async () => {
    const s = await rawServer((req, socket) => socket.write(answer101(req, 'Sec-WebSocket-Protocol: other\r\n')));
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`, { protocols: ['chat'] }), 101, /"other", which was not offered/);
  });

  it('fails on a subprotocol when none was offered', async () => {
    const s = await rawServer((req, socket) => socket.write(answer101(req, 'Sec-WebSocket-Protocol: chat\r\n')));
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`), 101, /none was offered/);
  });

  it('fails on two subprotocols', async () => {
    const s = await rawServer((req, socket) => socket.write(answer101(req, 'Sec-WebSocket-Protocol: a, b\r\n')));
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`, { protocols: ['a', 'b'] }), 101, /exactly one subprotocol/);
  });

  it('fails on an extension when none was offered', async () => {
    const s = await rawServer((req, socket) => socket.write(answer101(req, 'Sec-WebSocket-Extensions: permessage-deflate\r\n')));
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`), 101, /accepted an extension but none was offered/);
  });

  it('fails on an extension other than the one offered', async () => {
    const s = await rawServer((req, socket) => socket.write(answer101(req, 'Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n')));
    await expectHandshakeError(
      connect(`ws://127.0.0.1:${s.port}/`, { compression: true }),
      101,
      /extension "x-webkit-deflate-frame", which was not offered/,
    );
  });

  it('fails when permessage-deflate is accepted twice', async () => {
    const s = await rawServer((req, socket) =>
      socket.write(answer101(req, 'Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n')),
    );
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`, { compression: true }), 101, /more extensions than were offered/);
  });

  it('offers permessage-deflate when compression is on ()', async () => {
    const s = await rawServer((_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    await connect(`ws://127.0.0.1:${s.port}/`, { compression: true }).catch(() => undefined);
    expect(get(s.requests[0] as SeenRequest, 'sec-websocket-extensions')).toMatch(/^permessage-deflate/);
  });
});

describe('timeouts and aborts', () => {
  it('times out when the server never answers, and closes the socket', async () => {
    const s = await rawServer(null);
    const started = Date.now();
    await expectHandshakeError(connect(`ws://127.0.0.1:${s.port}/`, { handshakeTimeout: 150 }), 0, /timed out after 150 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
    await s.closed;
  });

  it('times out when the server accepts TCP but never reads (wss:// with a silent server)', async () => {
    const s = await rawServer(null);
    await expectHandshakeError(connect(`wss://127.0.0.1:${s.port}/`, { handshakeTimeout: 150 }), 0, /timed out/);
    await s.closed;
  });

  it('rejects at once with an AbortError when the signal is already aborted, without connecting', async () => {
    const s = await rawServer(null);
    const controller = new AbortController();
    controller.abort();
    const err = await connect(`ws://127.0.0.1:${s.port}/`, { signal: controller.signal }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    await new Promise((r) => setTimeout(r, 50));
    expect(s.connections).toBe(0);
  });

  it('aborts mid-handshake with an AbortError and closes the socket', async () => {
    const s = await rawServer(null);
    const controller = new AbortController();
    const p = connect(`ws://127.0.0.1:${s.port}/`, { signal: controller.signal });
    while (s.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('user cancelled'));
    const err = await p.catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect((err as Error & { cause?: unknown }).cause).toEqual(new Error('user cancelled'));
    await s.closed;
  });

  it('aborting after success changes nothing ()', async () => {
    const server = http.createServer();
    const upgrader = new Upgrader();
    const serverSide: Promise<unknown>[] = [];
    server.on('upgrade', (req: http.IncomingMessage, socket: stream.Duplex, head: Buffer) => {
      serverSide.push(upgrader.upgrade(req, socket, head).catch((e: unknown) => e));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push({
      close: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    });
    const controller = new AbortController();
    const ws = await connect(`ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/`, { signal: controller.signal });
    controller.abort();
    expect(ws.readyState).toBe('open');
    await ws.close(1000);
  });
});

describe('against a real Upgrader ()', () => {
  async function upgraderServer(opts: ConstructorParameters<typeof Upgrader>[0] = {}): Promise<{ port: number; accepted: Promise<WebSocket> }> {
    const server = http.createServer();
    const upgrader = new Upgrader(opts);
    let resolveAccepted: (ws: WebSocket) => void = () => undefined;
    const accepted = new Promise<WebSocket>((r) => (resolveAccepted = r));
    server.on('upgrade', (req: http.IncomingMessage, socket: stream.Duplex, head: Buffer) => {
      upgrader.upgrade(req, socket, head).then(resolveAccepted, () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push({
      close: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    });
    return { port: (server.address() as net.AddressInfo).port, accepted };
  }

  it('connects, agrees on a subprotocol and exchanges a message', async () => {
    const { port, accepted } = await upgraderServer({ subprotocols: ['b', 'a'] });
    const ws = await connect(`ws://127.0.0.1:${port}/`, { protocols: ['a', 'b'] });
    const peer = await accepted;
    expect(ws.protocol).toBe('b');
    expect(peer.protocol).toBe('b');
    expect(ws.isServer).toBe(false);
    await ws.writeMessage('hello');
    const m = await peer.readMessage();
    expect(m.data.toString()).toBe('hello');
    await ws.close(1000);
  });

  it('accepts a server that chose no subprotocol (RFC 6455 §4.1 allows it)', async () => {
    const { port } = await upgraderServer();
    const ws = await connect(`ws://127.0.0.1:${port}/`, { protocols: ['a'] });
    expect(ws.protocol).toBe('');
    await ws.close(1000);
  });

  it('negotiates permessage-deflate ()', async () => {
    const { port, accepted } = await upgraderServer({ compression: true });
    const ws = await connect(`ws://127.0.0.1:${port}/`, { compression: true });
    const peer = await accepted;
    expect(ws.extensions).toMatch(/^permessage-deflate/);
    expect(peer.extensions).toMatch(/^permessage-deflate/);
    await ws.writeMessage('x'.repeat(5000));
    expect((await peer.readMessage()).data.toString()).toBe('x'.repeat(5000));
    await ws.close(1000);
  });
});

// ---- wss:// ---------------------------------------------------------------------------------------

const tlsMaterial = makeCertificate();
const describeTls = tlsMaterial ? describe : describe.skip;

describeTls('wss://', () => {
  const { key, cert } = tlsMaterial ?? { key: '', cert: '' };

  async function tlsServer(
    onUpgrade: (req: http.IncomingMessage, socket: stream.Duplex, head: Buffer) => void,
  ): Promise<number> {
    const server = https.createServer({ key, cert }, (_req, res) => {
      res.writeHead(426, { Upgrade: 'websocket' });
      res.end();
    });
    server.on('upgrade', onUpgrade);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push({
      close: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    });
    return (server.address() as net.AddressInfo).port;
  }

  it('refuses a self-signed certificate by default', async () => {
    const port = await tlsServer((_req, socket) => socket.destroy());
    // Errors made by node itself come from another realm than jest's Error: match on the shape.
    await expect(connect(`wss://localhost:${port}/`)).rejects.toMatchObject({
      code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY/),
    });
  });

  it('passes TLS options through: a refusal over TLS reports its status', async () => {
    const upgrader = new Upgrader({ checkOrigin: () => false });
    const port = await tlsServer((req, socket, head) => void upgrader.upgrade(req, socket, head).catch(() => undefined));
    await expectHandshakeError(
      connect(`wss://localhost:${port}/`, { ca: cert, origin: 'https://evil.example' }),
      403,
      /Unexpected server response: 403/,
    );
  });

  it('checks the server name against the certificate (IP SAN ok, servername passed through)', async () => {
    const port = await tlsServer((req, socket) => {
      void req;
      socket.end("HTTP/1.1 418 I'm a Teapot\r\nContent-Length: 0\r\n\r\n");
    });
    await expectHandshakeError(connect(`wss://127.0.0.1:${port}/`, { ca: cert }), 418, /418/);
    await expect(connect(`wss://127.0.0.1:${port}/`, { ca: cert, servername: 'other.example' })).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });

  it('connects over TLS to an Upgrader ()', async () => {
    const upgrader = new Upgrader();
    let serverWs: WebSocket | undefined;
    const port = await tlsServer((req, socket, head) => {
      void upgrader.upgrade(req, socket, head).then((ws) => (serverWs = ws), () => undefined);
    });
    const ws = await connect(`wss://localhost:${port}/`, { ca: cert });
    await ws.writeMessage('over tls');
    while (!serverWs) await new Promise((r) => setTimeout(r, 5));
    expect((await serverWs.readMessage()).data.toString()).toBe('over tls');
    await ws.close(1000);
  });
});
