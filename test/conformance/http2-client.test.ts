// RFC 8441 on the client: connect(url, { http2 }) against real HTTP/2 servers (TLS with a throw-away
// certificate, and h2c with a given session), its per-origin session pool, and the HTTP/1.1 fallback.
import * as http from 'http';
import * as http2 from 'http2';
import * as https from 'https';
import type * as net from 'net';
import { WebSocket } from '../../src/connection/websocket';
import { HandshakeError } from '../../src/errors';
import { HTTP2_CLIENT_CONNECTION_WINDOW, HTTP2_CLIENT_STREAM_WINDOW } from '../../src/http2/client';
import { connect } from '../../src/handshake/client';
import { Upgrader, type UpgraderOptions } from '../../src/handshake/server';
import { WebSocketServer } from '../../src/server';
import { WebSocket as StandardWebSocket } from '../../src/standard/websocket';
import { WebSocketStream } from '../../src/streams/websocket-stream';
import { closed } from '../helpers/pair';
import { echoMessages } from '../helpers/servers';
import { openSession, startH2Server, tlsMaterial, type H2Server } from '../helpers/http2';

jest.setTimeout(20_000);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Seen {
  versions: string[];
}

/** An h2 server (allowHTTP1, so the HTTP/1.1 fallback reaches the same WebSocketServer) echoing WebSockets. */
async function echoServer(upgrader: UpgraderOptions = {}, opts: { h2c?: boolean; attach?: boolean } = {}): Promise<H2Server & Seen> {
  const versions: string[] = [];
  const h2 = await startH2Server({ h2c: opts.h2c, allowHTTP1: true }, (server) => {
    server.on('request', (_req, res) => res.end('page'));
    if (opts.attach === false) {
      // HTTP/1.1 upgrades only: the setting is never advertised.
      const up = new Upgrader(upgrader);
      server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
        up.upgrade(req, socket, head).then((ws) => {
          versions.push(req.httpVersion);
          void echoMessages(ws);
        }, () => undefined);
      });
      return;
    }
    const wss = new WebSocketServer({ http2: server, upgrader }, (ws, req) => {
      versions.push(req.httpVersion);
      void echoMessages(ws);
    });
    cleanups.push(() => wss.close());
  });
  cleanups.push(() => h2.close());
  return Object.assign(h2, { versions });
}

const wssUrl = (h2: H2Server, path = '/'): string => `wss://127.0.0.1:${h2.port}${path}`;
const TLS = { rejectUnauthorized: false } as const;

async function roundTrip(ws: WebSocket, text = 'ping'): Promise<void> {
  await ws.writeMessage(text);
  expect((await ws.readMessage()).data.toString()).toBe(text);
}

function waitFor(cond: () => boolean, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const check = (): void => {
      if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error(`Timed out waiting for ${what}`));
      else setTimeout(check, 10);
    };
    check();
  });
}

const describeTls = tlsMaterial ? describe : describe.skip;

describeTls('connect(url, { http2: true })', () => {
  test('opens an extended CONNECT stream; the 2nd..Nth WebSocket to the origin share one session, closed when idle', async () => {
    const h2 = await echoServer();
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 4; i++) sockets.push(await connect(wssUrl(h2, `/n${i}`), { ...TLS, http2: true }));
    expect(h2.versions).toEqual(['2.0', '2.0', '2.0', '2.0']);
    expect(h2.sessions.size).toBe(1);
    await Promise.all(sockets.map((ws, i) => roundTrip(ws, `m${i}`)));
    await sockets[0]!.close(1000);
    expect(h2.sessions.size).toBe(1);
    await Promise.all(sockets.slice(1).map((ws) => ws.close(1000)));
    await waitFor(() => h2.sessions.size === 0, 'the idle session to close');
    // A new WebSocket after that opens a new session.
    const again = await connect(wssUrl(h2), { ...TLS, http2: true });
    await roundTrip(again);
    expect(h2.sessions.size).toBe(1);
    await again.close(1000);
  });

  test("the session it opens has larger receive windows than node's (per stream and for the connection)", async () => {
    const h2 = await echoServer();
    const ws = await connect(wssUrl(h2), { ...TLS, http2: true });
    await roundTrip(ws);
    const served = [...h2.sessions][0]!;
    expect(served.remoteSettings.initialWindowSize).toBe(HTTP2_CLIENT_STREAM_WINDOW);
    // What the server may send on the connection: the client's window less the little sent so far.
    expect(served.state.remoteWindowSize).toBeGreaterThan(HTTP2_CLIENT_CONNECTION_WINDOW - 1024);
    await ws.close(1000);
  });

  test('negotiates subprotocols and permessage-deflate with the same checks as HTTP/1.1', async () => {
    const h2 = await echoServer({ subprotocols: ['b'], compression: true });
    const ws = await connect(wssUrl(h2), { ...TLS, http2: true, protocols: ['a', 'b'], compression: true });
    expect(ws.protocol).toBe('b');
    expect(ws.extensions).toMatch(/^permessage-deflate/);
    await roundTrip(ws, 'z'.repeat(10_000));
    await ws.close(1000);
  });

  test('a refusal rejects with its status, and the shared session serves the next WebSocket', async () => {
    const h2 = await echoServer({ checkOrigin: (req) => req.headers.origin !== 'https://evil.example' });
    const ok = await connect(wssUrl(h2), { ...TLS, http2: true });
    const err: unknown = await connect(wssUrl(h2), { ...TLS, http2: true, origin: 'https://evil.example' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandshakeError);
    expect((err as HandshakeError).status).toBe(403);
    await roundTrip(ok);
    expect(h2.sessions.size).toBe(1);
    await ok.close(1000);
  });

  test('the handshake timeout and the abort signal end the stream, not the session', async () => {
    const h2 = await echoServer({ checkOrigin: (req) => (req.headers['x-hang'] ? new Promise<boolean>(() => undefined) : true), handshakeTimeout: 60_000 });
    const ok = await connect(wssUrl(h2), { ...TLS, http2: true });
    const timedOut: unknown = await connect(wssUrl(h2), { ...TLS, http2: true, headers: { 'x-hang': '1' }, handshakeTimeout: 200 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(HandshakeError);
    expect((timedOut as HandshakeError).status).toBe(0);
    const controller = new AbortController();
    const aborting = connect(wssUrl(h2), { ...TLS, http2: true, headers: { 'x-hang': '1' }, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(aborting).rejects.toMatchObject({ name: 'AbortError' });
    await roundTrip(ok);
    await ok.close(1000);
  });

  test('falls back to an HTTP/1.1 upgrade on a fresh connection when the server does not allow extended CONNECT', async () => {
    const h2 = await echoServer({}, { attach: false });
    const ws = await connect(wssUrl(h2), { ...TLS, http2: true });
    await roundTrip(ws);
    expect(h2.versions).toEqual(['1.1']);
    await ws.close(1000);
  });

  test('falls back to HTTP/1.1 when the server does not speak h2 at all (ALPN)', async () => {
    const server = https.createServer(tlsMaterial!);
    const wss = new WebSocketServer({ server }, (ws) => void echoMessages(ws));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(() => wss.close());
    const ws = await connect(`wss://127.0.0.1:${(server.address() as net.AddressInfo).port}/`, { ...TLS, http2: true });
    await roundTrip(ws);
    await ws.close(1000);
  });

  test('WebSocketStream and the standard WebSocket take the option', async () => {
    const h2 = await echoServer();
    const wss = new WebSocketStream(wssUrl(h2), { ...TLS, http2: true });
    const { readable, writable } = await wss.opened;
    const writer = writable.getWriter();
    await writer.write('via stream');
    const reader = readable.getReader();
    expect((await reader.read()).value).toBe('via stream');
    wss.close();
    await wss.closed;

    const std = new StandardWebSocket(wssUrl(h2), [], { ...TLS, http2: true });
    await new Promise<void>((resolve) => std.addEventListener('open', () => resolve()));
    const echoed = new Promise<string>((resolve) => std.addEventListener('message', (e) => resolve(String((e as MessageEvent).data))));
    std.send('via standard');
    expect(await echoed).toBe('via standard');
    std.close();
    await new Promise<void>((resolve) => std.addEventListener('close', () => resolve()));
    expect(h2.versions).toEqual(['2.0', '2.0']);
  });
});

describe('connect(url, { http2: session })', () => {
  test('uses a given h2c session as is and leaves it open', async () => {
    const h2 = await echoServer({}, { h2c: true });
    const session = await openSession(h2.origin);
    cleanups.push(() => void session.destroy());
    const a = await connect(`ws://127.0.0.1:${h2.port}/`, { http2: session });
    const b = await connect(`ws://127.0.0.1:${h2.port}/`, { http2: session });
    await roundTrip(a);
    await roundTrip(b);
    await a.close(1000);
    await b.close(1000);
    expect(session.closed).toBe(false);
    expect(h2.versions).toEqual(['2.0', '2.0']);
    // A given session keeps its own settings: node's 64 KiB windows here.
    const served = [...h2.sessions][0]!;
    expect(served.remoteSettings.initialWindowSize).toBe(65_535);
    expect(served.state.remoteWindowSize).toBeLessThanOrEqual(65_535);
  });

  test('a session whose server does not allow extended CONNECT is refused', async () => {
    const h2 = await startH2Server({ h2c: true }, (server) => server.on('request', (_req, res) => res.end()));
    cleanups.push(() => h2.close());
    const session = http2.connect(h2.origin);
    session.on('error', () => undefined);
    cleanups.push(() => void session.destroy());
    await expect(connect(`ws://127.0.0.1:${h2.port}/`, { http2: session })).rejects.toThrow(/SETTINGS_ENABLE_CONNECT_PROTOCOL/);
  });

  test('a server closing the WebSocket ends the stream; the client sees a clean close', async () => {
    let serverWs: WebSocket | null = null;
    const h2 = await startH2Server({ h2c: true }, (server) => {
      new Upgrader().attachHttp2(server, (ws) => (serverWs = ws));
    });
    cleanups.push(() => h2.close());
    const session = await openSession(h2.origin);
    cleanups.push(() => void session.destroy());
    const ws = await connect(`ws://127.0.0.1:${h2.port}/`, { http2: session });
    await waitFor(() => serverWs !== null, 'the server connection');
    const info = closed(ws);
    await serverWs!.close(4000, 'done');
    expect(await info).toEqual({ code: 4000, reason: 'done', wasClean: true });
  });
});
