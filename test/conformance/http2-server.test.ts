// RFC 8441 on the server: Upgrader.attachHttp2 and WebSocketServer({ http2 }) over real HTTP/2 (TLS with a
// throw-away certificate, and h2c), driven by node's own http2 client.
import * as http2 from 'http2';
import { WebSocket } from '../../src/connection/websocket';
import { Upgrader, type UpgraderOptions } from '../../src/handshake/server';
import { HTTP2_SERVER_CONNECTION_WINDOW } from '../../src/http2/server';
import { WebSocketServer } from '../../src/server';
import { closed } from '../helpers/pair';
import { echoMessages } from '../helpers/servers';
import { connectHeaders, openSession, rawH2WebSocket, request, startH2Server, tlsMaterial, type H2Server } from '../helpers/http2';

jest.setTimeout(20_000);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Listeners = 'none' | 'request' | 'stream' | 'connect';

/** An h2 server with the app's own listeners of `kind` and an echo WebSocket endpoint attached. */
async function echoServer(
  kind: Listeners = 'request',
  upgrader: UpgraderOptions = {},
  h2c = false,
): Promise<{ h2: H2Server; accepted: WebSocket[]; detach: () => void }> {
  const accepted: WebSocket[] = [];
  let detach: () => void = () => undefined;
  const h2 = await startH2Server({ h2c }, (server) => {
    if (kind === 'request' || kind === 'connect') server.on('request', (_req, res) => res.end('page'));
    if (kind === 'connect') server.on('connect', (_req, res) => res.writeHead(204).end());
    if (kind === 'stream') {
      server.on('stream', (stream: http2.ServerHttp2Stream) => {
        stream.respond({ ':status': 200 });
        stream.end('page');
      });
    }
    detach = new Upgrader(upgrader).attachHttp2(server, (ws, stream, headers) => {
      expect(typeof stream.respond).toBe('function');
      expect(headers[':protocol']).toBe('websocket');
      accepted.push(ws);
      void echoMessages(ws);
    });
  });
  cleanups.push(() => h2.close());
  return { h2, accepted, detach };
}

async function session(origin: string): Promise<http2.ClientHttp2Session> {
  const s = await openSession(origin);
  cleanups.push(() => void s.destroy());
  return s;
}

const describeTls = tlsMaterial ? describe : describe.skip;

describeTls('Upgrader.attachHttp2 (RFC 8441)', () => {
  test.each<[Listeners, boolean]>([
    ['none', false],
    ['request', false],
    ['stream', false],
    ['connect', false],
    ['request', true],
  ])('with the app listening for %s (h2c: %s): the setting is advertised and WebSockets echo', async (kind, h2c) => {
    const { h2 } = await echoServer(kind, {}, h2c);
    const s = await session(h2.origin);
    expect(s.remoteSettings.enableConnectProtocol).toBe(true);
    const { ws, answer } = await rawH2WebSocket(s, '/chat');
    // RFC 8441 §5: no Sec-WebSocket-Accept, and 200 rather than 101.
    expect(answer.status).toBe(200);
    expect(answer.headers['sec-websocket-accept']).toBeUndefined();
    await ws.writeMessage('hello');
    expect((await ws.readMessage()).data.toString()).toBe('hello');
    await ws.writeMessage(Buffer.from([0, 1, 2, 255]));
    const back = await ws.readMessage();
    expect(back.type).toBe('binary');
    expect([...back.data]).toEqual([0, 1, 2, 255]);
    await ws.close(1000);
    // The app's other streams still reach the app.
    if (kind !== 'none') {
      const page = await request(s, { ':method': 'GET', ':path': '/' });
      expect(page.status).toBe(200);
      expect(await page.body()).toBe('page');
    }
  });

  test("a plain CONNECT (no :protocol) is left to the app: node's 405, or the app's 'connect' listener", async () => {
    const plain = { ':method': 'CONNECT', ':authority': 'example.com:443' };
    const a = await echoServer('request');
    expect((await request(await session(a.h2.origin), plain)).status).toBe(405);
    const b = await echoServer('connect');
    expect((await request(await session(b.h2.origin), plain)).status).toBe(204);
  });

  test('closing a WebSocket ends its stream, never the session; many WebSockets share one session', async () => {
    const { h2, accepted } = await echoServer('request');
    const s = await session(h2.origin);
    const sockets = await Promise.all([1, 2, 3].map(() => rawH2WebSocket(s, '/')));
    expect(h2.sessions.size).toBe(1);
    // Client-initiated close of the first, server-initiated close of the second.
    const first = sockets[0]!.ws;
    await expect(first.close(1000, 'bye')).resolves.toMatchObject({ code: 1000, wasClean: true });
    const serverSecond = accepted[1]!;
    const secondClosed = closed(sockets[1]!.ws);
    await serverSecond.close(1001, 'later');
    expect(await secondClosed).toEqual({ code: 1001, reason: 'later', wasClean: true });
    expect(sockets[0]!.answer.stream.closed).toBe(true);
    expect(s.closed || s.destroyed).toBe(false);
    // The third still echoes on the same session.
    const third = sockets[2]!.ws;
    await third.writeMessage('still here');
    expect((await third.readMessage()).data.toString()).toBe('still here');
    await third.close(1000);
  });

  test('a stream reset by the peer is an abnormal close (1006) of its WebSocket alone', async () => {
    const { h2, accepted } = await echoServer('request');
    const s = await session(h2.origin);
    const a = await rawH2WebSocket(s, '/');
    const b = await rawH2WebSocket(s, '/');
    await a.ws.writeMessage('x');
    await a.ws.readMessage();
    const serverClosed = closed(accepted[0]!);
    a.answer.stream.close(http2.constants.NGHTTP2_CANCEL);
    expect(await serverClosed).toEqual({ code: 1006, reason: '', wasClean: false });
    await b.ws.writeMessage('y');
    expect((await b.ws.readMessage()).data.toString()).toBe('y');
    await b.ws.close(1000);
  });

  test('the session going away is an abnormal close (1006) of every WebSocket on it', async () => {
    const { h2, accepted } = await echoServer('request');
    const s = await session(h2.origin);
    await rawH2WebSocket(s, '/');
    await rawH2WebSocket(s, '/');
    await new Promise<void>((resolve) => {
      const check = (): void => (accepted.length === 2 ? resolve() : void setImmediate(check));
      check();
    });
    const all = Promise.all(accepted.map(closed));
    s.destroy();
    for (const info of await all) expect(info).toEqual({ code: 1006, reason: '', wasClean: false });
  });

  test.each<[string, http2.OutgoingHttpHeaders, number, Record<string, string>]>([
    ['sec-websocket-version 8', { 'sec-websocket-version': '8' }, 426, { 'sec-websocket-version': '13' }],
    ['no sec-websocket-version', { 'sec-websocket-version': undefined }, 426, { 'sec-websocket-version': '13' }],
    ['another :protocol', { ':protocol': 'webtransport' }, 501, {}],
    ['a cross-origin Origin', { origin: 'https://evil.example' }, 403, {}],
  ])('%s is refused with %s', async (_name, extra, status, headers) => {
    const { h2, accepted } = await echoServer('request');
    const s = await session(h2.origin);
    const answer = await request(s, connectHeaders('/', extra));
    expect(answer.status).toBe(status);
    for (const [k, v] of Object.entries(headers)) expect(answer.headers[k]).toBe(v);
    await answer.body();
    expect(accepted).toHaveLength(0);
  });

  test('a WebSocket CONNECT without :protocol is refused with 400', async () => {
    const { h2 } = await echoServer('request');
    const s = await session(h2.origin);
    const answer = await request(s, { ':method': 'CONNECT', ':authority': `127.0.0.1:${h2.port}`, 'sec-websocket-version': '13' });
    expect(answer.status).toBe(400);
    expect(await answer.body()).toMatch(/:protocol/);
  });

  test('same-origin requests pass the default Origin policy (:authority is the host)', async () => {
    const { h2 } = await echoServer('request');
    const s = await session(h2.origin);
    const { ws } = await rawH2WebSocket(s, '/', { origin: h2.origin });
    await ws.close(1000);
  });

  test('checkOrigin (sync and async) sees the request as on HTTP/1.1', async () => {
    const seen: Array<{ version: string; url?: string; host?: string; method?: string }> = [];
    const { h2 } = await echoServer('request', {
      checkOrigin: async (req) => {
        seen.push({ version: req.httpVersion, url: req.url, host: req.headers.host, method: req.method });
        await new Promise((r) => setImmediate(r));
        return req.headers.origin === 'https://app.example';
      },
    });
    const s = await session(h2.origin);
    expect((await request(s, connectHeaders('/a?b=1', { origin: 'https://other.example' }))).status).toBe(403);
    const { ws } = await rawH2WebSocket(s, '/a?b=1', { origin: 'https://app.example' });
    await ws.close(1000);
    expect(seen[0]).toEqual({ version: '2.0', url: '/a?b=1', host: `127.0.0.1:${h2.port}`, method: 'CONNECT' });
  });

  test('subprotocols and permessage-deflate are negotiated as on HTTP/1.1', async () => {
    const { h2, accepted } = await echoServer('request', { subprotocols: ['b', 'a'], compression: true });
    const s = await session(h2.origin);
    const answer = await request(
      s,
      connectHeaders('/', { 'sec-websocket-protocol': 'a, b', 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' }),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers['sec-websocket-protocol']).toBe('b');
    expect(String(answer.headers['sec-websocket-extensions'])).toMatch(/^permessage-deflate/);
    await new Promise<void>((resolve) => {
      const check = (): void => (accepted.length === 1 ? resolve() : void setImmediate(check));
      check();
    });
    expect(accepted[0]!.protocol).toBe('b');
    expect(accepted[0]!.extensions).toMatch(/^permessage-deflate/);
    answer.stream.close();
  });

  test('detaching stops advertising the setting to new sessions and leaves later streams to the app', async () => {
    const { h2, detach } = await echoServer('request');
    detach();
    const s = await session(h2.origin);
    expect(s.remoteSettings.enableConnectProtocol).toBe(false);
  });

  test("a session's connection window is raised on its first WebSocket stream, not before, and its peer is told", async () => {
    const { h2 } = await echoServer('request');
    const s = await session(h2.origin);
    const page = await request(s, { ':method': 'GET', ':path': '/' });
    await page.body();
    const served = [...h2.sessions][0]!;
    // Node's default until a WebSocket arrives: plain HTTP/2 traffic is left as the app configured it.
    expect(served.state.effectiveLocalWindowSize).toBe(65_535);
    const { ws } = await rawH2WebSocket(s, '/');
    expect(served.state.effectiveLocalWindowSize).toBe(HTTP2_SERVER_CONNECTION_WINDOW);
    await ws.writeMessage('x');
    await ws.readMessage();
    // The WINDOW_UPDATE reached the client: it may now send up to the new window on the connection.
    expect(s.state.remoteWindowSize).toBeGreaterThan(HTTP2_SERVER_CONNECTION_WINDOW - 1024);
    await ws.close(1000);
  });

  test("a connection window the app set in its 'session' listener is kept", async () => {
    const h2 = await startH2Server({}, (server) => {
      server.on('session', (session: http2.ServerHttp2Session) => session.setLocalWindowSize(200_000));
      new Upgrader().attachHttp2(server, (ws) => void echoMessages(ws));
    });
    cleanups.push(() => h2.close());
    const s = await session(h2.origin);
    const { ws } = await rawH2WebSocket(s, '/');
    await ws.writeMessage('x');
    await ws.readMessage();
    expect([...h2.sessions][0]!.state.effectiveLocalWindowSize).toBe(200_000);
    await ws.close(1000);
  });

  test('a bad server argument is a TypeError', () => {
    expect(() => new Upgrader().attachHttp2({} as http2.Http2Server, () => undefined)).toThrow(TypeError);
  });
});

describeTls('WebSocketServer({ http2 })', () => {
  test('accepts on its path, refuses others with 404, and close() says 1001 to h2 clients without closing the server', async () => {
    let wss!: WebSocketServer;
    const h2 = await startH2Server({}, (server) => {
      server.on('request', (_req, res) => res.end('page'));
      wss = new WebSocketServer({ http2: server, path: '/ws' }, (ws, req) => {
        expect(req.httpVersion).toBe('2.0');
        void echoMessages(ws);
      });
    });
    cleanups.push(() => h2.close());
    const s = await session(h2.origin);
    expect((await request(s, connectHeaders('/other'))).status).toBe(404);
    const { ws } = await rawH2WebSocket(s, '/ws?x=1');
    await ws.writeMessage('hi');
    expect((await ws.readMessage()).data.toString()).toBe('hi');
    expect(wss.clients.size).toBe(1);
    const info = closed(ws);
    await wss.close();
    expect(await info).toEqual({ code: 1001, reason: 'Server shutting down', wasClean: true });
    expect(wss.clients.size).toBe(0);
    // The server is the caller's: still serving, no longer advertising to new sessions.
    const page = await request(s, { ':method': 'GET', ':path': '/' });
    expect(page.status).toBe(200);
    expect((await session(h2.origin)).remoteSettings.enableConnectProtocol).toBe(false);
  });

  test("the server's Hub publishes to subscribers on HTTP/2 streams like to HTTP/1.1 ones", async () => {
    let wss!: WebSocketServer;
    const h2 = await startH2Server({}, (server) => {
      wss = new WebSocketServer({ http2: server }, (ws) => wss.hub.subscribe(ws, 'news'));
    });
    cleanups.push(() => h2.close());
    cleanups.push(() => wss.close());
    const s = await session(h2.origin);
    const subscribers = await Promise.all([1, 2, 3].map(() => rawH2WebSocket(s, '/')));
    await new Promise<void>((resolve) => {
      const check = (): void => (wss.hub.subscriberCount('news') === 3 ? resolve() : void setImmediate(check));
      check();
    });
    expect(wss.hub.publish('news', 'to every stream')).toBe(3);
    for (const { ws } of subscribers) expect((await ws.readMessage()).data.toString()).toBe('to every stream');
  });

  test('server and http2 together are a TypeError', () => {
    const server = http2.createServer();
    expect(() => new WebSocketServer({ http2: server, port: 1 })).toThrow(TypeError);
  });
});
