// RFC 8441 against a real browser: headless Chromium loads a page over HTTP/2 from a wsflow-attached
// server and opens `new WebSocket('wss://…')` on the same origin. The server proves Chromium used an
// extended CONNECT stream of the very session that served the page; then the fallback: a server that
// does not advertise the setting gets an HTTP/1.1 upgrade instead.
import * as http from 'http';
import * as http2 from 'http2';
import type * as net from 'net';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { WebSocket } from '../../src/connection/websocket';
import { Upgrader } from '../../src/handshake/server';
import { startH2Server, tlsMaterial, type H2Server } from '../helpers/http2';
import { CHROMIUM, CHROMIUM_ARGS, describePeer, peers, withTimeout } from './helpers';

jest.setTimeout(120_000);

// The throw-away self-signed certificate of the test server.
const H2_CHROMIUM_ARGS = [...CHROMIUM_ARGS, '--ignore-certificate-errors'];
const PAGE = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>wsflow h2</title></head><body></body></html>';

// Runs in the page: opens a WebSocket, echoes text and binary, and closes as told.
const SCRIPT = `async (args) => {
  const ws = new WebSocket(args.url);
  ws.binaryType = 'arraybuffer';
  const inbox = [];
  let wake = null;
  ws.onmessage = (e) => { inbox.push(e.data); if (wake) wake(); };
  const next = () => new Promise((resolve) => { if (inbox.length) resolve(inbox.shift()); else wake = () => { wake = null; resolve(inbox.shift()); }; });
  const closed = new Promise((resolve) => (ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean })));
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket error')); });
  ws.send('héllo over h2');
  const text = await next();
  ws.send(new Uint8Array([0, 1, 2, 250, 255]));
  const binary = Array.from(new Uint8Array(await next()));
  ws.send('close-me');
  if (args.clientCloses) ws.close(4001, 'from the page');
  return { text, binary, close: await closed };
}`;

interface Accepted {
  ws: WebSocket;
  version: string;
  session: http2.ServerHttp2Session | null;
}

describePeer('Chromium over HTTP/2 (RFC 8441)', peers.chromium() && tlsMaterial !== null, () => {
  let browser: Browser | undefined;
  const pages: Page[] = [];
  const servers: H2Server[] = [];
  let clientCloses = true;

  beforeAll(async () => {
    browser = await withTimeout(chromium.launch({ executablePath: CHROMIUM, headless: true, args: H2_CHROMIUM_ARGS, timeout: 60_000 }), 70_000, 'Chromium launch');
  }, 110_000);

  afterAll(async () => {
    await Promise.all(pages.map((p) => withTimeout(p.close(), 5000, 'page close').catch(() => undefined)));
    if (browser !== undefined) await withTimeout(browser.close(), 20_000, 'Chromium close').catch(() => undefined);
    for (const s of servers) await s.close();
  });

  /** A TLS h2 server (allowHTTP1) serving the page; WebSockets over h2 when `attach`, else HTTP/1.1 upgrades only. */
  async function server(attach: boolean): Promise<{ h2: H2Server; accepted: Accepted[]; pageSessions: Set<http2.ServerHttp2Session> }> {
    const accepted: Accepted[] = [];
    const pageSessions = new Set<http2.ServerHttp2Session>();
    const onWs = (ws: WebSocket, version: string, session: http2.ServerHttp2Session | null): void => {
      accepted.push({ ws, version, session });
      void (async () => {
        for await (const m of ws) {
          // 'close-me' asks the server to close, unless the page closes first.
          if (m.type === 'text' && m.data.toString() === 'close-me') {
            if (!clientCloses) void ws.close(4002, 'from the server');
            continue;
          }
          await ws.writeMessage(m.data, m.type);
        }
      })().catch(() => undefined);
    };
    const h2 = await startH2Server({ allowHTTP1: true }, (srv) => {
      srv.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
        if (req.httpVersion === '2.0') pageSessions.add(req.stream.session as http2.ServerHttp2Session);
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE);
      });
      const upgrader = new Upgrader();
      if (attach) {
        upgrader.attachHttp2(srv, (ws, stream) => onWs(ws, '2.0', stream.session as http2.ServerHttp2Session));
      } else {
        srv.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
          upgrader.upgrade(req, socket, head).then((ws) => onWs(ws, req.httpVersion, null), () => undefined);
        });
      }
    });
    servers.push(h2);
    return { h2, accepted, pageSessions };
  }

  async function open(url: string): Promise<Page> {
    if (browser === undefined) throw new Error('Chromium did not start');
    const page = await browser.newPage();
    pages.push(page);
    page.setDefaultTimeout(30_000);
    await page.goto(url);
    return page;
  }

  type Result = { text: string; binary: number[]; close: { code: number; reason: string; wasClean: boolean } };

  test('the WebSocket is an extended CONNECT stream of the page\'s own session; echo; closes cleanly both ways', async () => {
    const { h2, accepted, pageSessions } = await server(true);
    const page = await open(`${h2.origin}/`);
    expect(pageSessions.size).toBe(1);
    const url = `wss://127.0.0.1:${h2.port}/ws`;
    clientCloses = true;
    const byPage = await withTimeout(page.evaluate(`(${SCRIPT})(${JSON.stringify({ url, clientCloses: true })})`) as Promise<Result>, 60_000, 'the page');
    expect(byPage.text).toBe('héllo over h2');
    expect(byPage.binary).toEqual([0, 1, 2, 250, 255]);
    expect(byPage.close).toMatchObject({ code: 4001, wasClean: true });
    clientCloses = false;
    const serverCloses = await withTimeout(page.evaluate(`(${SCRIPT})(${JSON.stringify({ url, clientCloses: false })})`) as Promise<Result>, 60_000, 'the page');
    expect(serverCloses.close).toEqual({ code: 4002, reason: 'from the server', wasClean: true });
    expect(accepted.map((a) => a.version)).toEqual(['2.0', '2.0']);
    // Both WebSockets rode the session that served the page: no extra TCP or TLS connection.
    for (const a of accepted) expect(pageSessions.has(a.session as http2.ServerHttp2Session)).toBe(true);
  });

  test('a server that does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL gets an HTTP/1.1 upgrade', async () => {
    clientCloses = true;
    const { h2, accepted } = await server(false);
    const page = await open(`${h2.origin}/`);
    const url = `wss://127.0.0.1:${h2.port}/ws`;
    const result = await withTimeout(page.evaluate(`(${SCRIPT})(${JSON.stringify({ url, clientCloses: true })})`) as Promise<Result>, 60_000, 'the page');
    expect(result.text).toBe('héllo over h2');
    expect(result.close).toMatchObject({ code: 4001, wasClean: true });
    expect(accepted.map((a) => a.version)).toEqual(['1.1']);
  });
});
