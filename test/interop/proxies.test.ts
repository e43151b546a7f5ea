// connect() through real proxies: squid (HTTP and HTTPS proxy, Basic auth), tinyproxy (HTTP, its
// ConnectPort allow-list) and microsocks (SOCKS5 and socks5h, RFC 1929 auth), each with ws: and wss:
// targets; the environment's proxy variables and no_proxy against a real squid.
import * as fs from 'fs';
import { connect, ProxyError, type ConnectOptions, type WebSocket } from '../../src';
import { makeCert, type TestCert } from '../helpers/certs';
import { startEchoTarget, type EchoTarget } from '../helpers/echo-targets';
import { proxiesInstalled, startDanted, startMicrosocks, startSquid, startTinyproxy, stopAllProxies, freePort, type RunningProxy } from '../helpers/proxies';
import { describePeer } from './helpers';

jest.setTimeout(60_000);

const AUTH = { user: 'alice', password: 'p@ss:w0rd' };
const CREDS = `${encodeURIComponent(AUTH.user)}:${encodeURIComponent(AUTH.password)}`;

let cert: TestCert;
let ws: EchoTarget;
let wss: EchoTarget;
const clients: WebSocket[] = [];

async function roundTrip(url: string, opts: ConnectOptions): Promise<void> {
  const c = await connect(url, { handshakeTimeout: 20_000, ...opts });
  clients.push(c);
  await c.writeMessage('through the proxy');
  expect((await c.readMessage()).data.toString()).toBe('through the proxy');
  await c.close();
}

/** Polls `probe` until it is true (bounded): squid writes a CONNECT's log line when the tunnel ends. */
async function eventually(probe: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const wssUrl = (): string => `wss://localhost:${wss.port}/`;
const tls = (): ConnectOptions => ({ ca: cert.cert });

describePeer('proxies (squid, tinyproxy, microsocks)', proxiesInstalled(), () => {
  beforeAll(async () => {
    cert = makeCert();
    ws = await startEchoTarget();
    wss = await startEchoTarget({ tls: cert });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.terminate();
  });
  afterAll(async () => {
    await stopAllProxies();
    await ws?.close();
    await wss?.close();
    if (cert !== undefined) fs.rmSync(cert.dir, { recursive: true, force: true });
  });

  describe('squid, HTTP proxy', () => {
    let squid: RunningProxy;
    beforeAll(async () => {
      squid = await startSquid({ https: cert });
    });

    test('ws: through CONNECT (also for ws:, never a forwarded Upgrade)', async () => {
      await roundTrip(ws.url, { proxy: `http://127.0.0.1:${squid.port}` });
      await eventually(() => squid.accessLog().includes(`CONNECT 127.0.0.1:${ws.port}`), 'the CONNECT in squid access.log');
      expect(squid.accessLog()).not.toMatch(/ GET /);
    });

    test('wss: through CONNECT, TLS end to end', async () => {
      await roundTrip(wssUrl(), { ...tls(), proxy: `http://127.0.0.1:${squid.port}` });
      await eventually(() => squid.accessLog().includes(`CONNECT localhost:${wss.port}`), 'the CONNECT in squid access.log');
    });

    test('an https: proxy: TLS to the proxy, then TLS to the server inside it', async () => {
      const proxy = `https://localhost:${squid.httpsPort as number}`;
      await roundTrip(ws.url, { proxy, proxyTls: { ca: cert.cert } });
      await roundTrip(wssUrl(), { ...tls(), proxy, proxyTls: { ca: cert.cert } });
    });

    test("an https: proxy whose certificate is not trusted is a ProxyError, status 0, with TLS's error as cause", async () => {
      const err = await connect(ws.url, { proxy: `https://localhost:${squid.httpsPort as number}` }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProxyError);
      expect((err as ProxyError).status).toBe(0);
      expect((err as ProxyError).cause).toMatchObject({ code: expect.stringMatching(/CERT|SIGNED/) });
    });

    test('the environment: ws_proxy is used, no_proxy and proxy: false bypass it', async () => {
      const saved = { ...process.env };
      const count = (): number => squid.accessLog().split(`CONNECT 127.0.0.1:${ws.port}`).length - 1;
      try {
        await eventually(() => count() >= 1, 'earlier CONNECT lines');
        const before = count();
        process.env.ws_proxy = `http://127.0.0.1:${squid.port}`;
        delete process.env.no_proxy;
        delete process.env.NO_PROXY;
        await roundTrip(ws.url, {});
        await eventually(() => count() === before + 1, 'a CONNECT for the environment proxy');
        process.env.no_proxy = 'example.com, 127.0.0.0/8';
        await roundTrip(ws.url, {});
        await roundTrip(ws.url, { proxy: false });
        delete process.env.no_proxy;
        process.env.NO_PROXY = `127.0.0.1:${ws.port}`;
        await roundTrip(ws.url, {});
        // A CONNECT would have been logged by now (the tunnel of the first bypassed round trip is long closed).
        await roundTrip(ws.url, { proxy: `http://127.0.0.1:${squid.port}` });
        await eventually(() => count() === before + 2, 'the explicit CONNECT after the bypassed ones');
      } finally {
        for (const k of ['ws_proxy', 'no_proxy', 'NO_PROXY']) {
          if (saved[k] === undefined) delete process.env[k];
          else process.env[k] = saved[k];
        }
      }
    });
  });

  describe('squid with Basic auth', () => {
    let squid: RunningProxy;
    beforeAll(async () => {
      squid = await startSquid({ auth: AUTH });
    });

    test('credentials from the proxy URL open the tunnel (ws: and wss:)', async () => {
      await roundTrip(ws.url, { proxy: `http://${CREDS}@127.0.0.1:${squid.port}` });
      await roundTrip(wssUrl(), { ...tls(), proxy: `http://${CREDS}@127.0.0.1:${squid.port}` });
    });

    test('or a Proxy-Authorization in proxyHeaders', async () => {
      const basic = Buffer.from(`${AUTH.user}:${AUTH.password}`).toString('base64');
      await roundTrip(ws.url, { proxy: `http://127.0.0.1:${squid.port}`, proxyHeaders: { 'Proxy-Authorization': `Basic ${basic}` } });
    });

    test('no or wrong credentials: ProxyError 407, the password nowhere in the message', async () => {
      const none = await connect(ws.url, { proxy: `http://127.0.0.1:${squid.port}` }).catch((e: unknown) => e);
      expect(none).toBeInstanceOf(ProxyError);
      expect(none).toMatchObject({ status: 407, proxy: `http://127.0.0.1:${squid.port}` });
      const wrong = await connect(ws.url, { proxy: `http://alice:Wr0ngSecret@127.0.0.1:${squid.port}` }).catch((e: unknown) => e);
      expect(wrong).toMatchObject({ name: 'ProxyError', status: 407 });
      expect((wrong as Error).message).not.toContain('Wr0ngSecret');
      expect((wrong as Error).stack).not.toContain('Wr0ngSecret');
    });
  });

  describe('tinyproxy', () => {
    test('CONNECT to a port its ConnectPort list allows (ws: and wss:)', async () => {
      const tiny = await startTinyproxy({ connectPorts: [ws.port, wss.port] });
      try {
        await roundTrip(ws.url, { proxy: `http://127.0.0.1:${tiny.port}` });
        await roundTrip(wssUrl(), { ...tls(), proxy: `http://127.0.0.1:${tiny.port}` });
      } finally {
        await tiny.stop();
      }
    });

    test('CONNECT to a port it does not allow: ProxyError 403', async () => {
      const tiny = await startTinyproxy({ connectPorts: [443] });
      try {
        const err = await connect(ws.url, { proxy: `http://127.0.0.1:${tiny.port}` }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ProxyError);
        expect((err as ProxyError).status).toBe(403);
        expect((err as Error).message).toContain(`127.0.0.1:${ws.port}`);
      } finally {
        await tiny.stop();
      }
    });

    test('Basic auth: 407 without credentials, a tunnel with them', async () => {
      const tiny = await startTinyproxy({ auth: { user: 'bob', password: 'hunter2' } });
      try {
        await expect(connect(ws.url, { proxy: `http://127.0.0.1:${tiny.port}` })).rejects.toMatchObject({ name: 'ProxyError', status: 407 });
        await roundTrip(ws.url, { proxy: `http://bob:hunter2@127.0.0.1:${tiny.port}` });
      } finally {
        await tiny.stop();
      }
    });
  });

  describe('microsocks (SOCKS5)', () => {
    let open: RunningProxy;
    let authed: RunningProxy;
    beforeAll(async () => {
      open = await startMicrosocks();
      authed = await startMicrosocks({ auth: AUTH });
    });

    test.each(['socks5', 'socks5h'])('%s: ws: and wss: targets', async (scheme) => {
      await roundTrip(`ws://localhost:${ws.port}/`, { proxy: `${scheme}://127.0.0.1:${open.port}` });
      await roundTrip(wssUrl(), { ...tls(), proxy: `${scheme}://127.0.0.1:${open.port}` });
    });

    test('username/password (RFC 1929) opens the tunnel', async () => {
      await roundTrip(ws.url, { proxy: `socks5h://${CREDS}@127.0.0.1:${authed.port}` });
      await roundTrip(wssUrl(), { ...tls(), proxy: `socks5://${CREDS}@127.0.0.1:${authed.port}` });
    });

    test('no or wrong credentials: ProxyError 407, the password nowhere in the message', async () => {
      await expect(connect(ws.url, { proxy: `socks5://127.0.0.1:${authed.port}` })).rejects.toMatchObject({ name: 'ProxyError', status: 407 });
      const wrong = await connect(ws.url, { proxy: `socks5://alice:Wr0ngSecret@127.0.0.1:${authed.port}` }).catch((e: unknown) => e);
      expect(wrong).toMatchObject({ name: 'ProxyError', status: 407 });
      expect((wrong as Error).message).not.toContain('Wr0ngSecret');
    });

    test('a target the proxy cannot reach: the SOCKS reply, named', async () => {
      const closed = await freePort();
      const err = await connect(`ws://127.0.0.1:${closed}/`, { proxy: `socks5://127.0.0.1:${open.port}` }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProxyError);
      expect((err as ProxyError).socksReply).toBe(5);
      expect((err as Error).message).toContain('connection refused');
    });
  });

  describe('danted (SOCKS4 and SOCKS5)', () => {
    let dante: RunningProxy;
    beforeAll(async () => {
      dante = await startDanted();
    });

    test.each(['socks4', 'socks5', 'socks5h'])('%s: ws: and wss: targets', async (scheme) => {
      // socks4 resolves localhost here and sends the IPv4 address; socks5h sends the name.
      await roundTrip(`ws://localhost:${ws.port}/`, { proxy: `${scheme}://127.0.0.1:${dante.port}` });
      await roundTrip(wssUrl(), { ...tls(), proxy: `${scheme}://127.0.0.1:${dante.port}` });
    });

    test('socks4a host names are refused by Dante: its SOCKS4 reply 91, named', async () => {
      const err = await connect(`ws://localhost:${ws.port}/`, { proxy: `socks4a://127.0.0.1:${dante.port}` }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProxyError);
      expect(err).toMatchObject({ socksReply: 91 });
      expect((err as Error).message).toContain('request rejected or failed');
    });
  });

  test('a proxy nobody listens on: ProxyError 0 naming it, the network error as cause', async () => {
    const port = await freePort();
    const err = await connect(ws.url, { proxy: `http://u:s3cret@127.0.0.1:${port}` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProxyError);
    expect(err).toMatchObject({ status: 0, proxy: `http://127.0.0.1:${port}` });
    expect((err as Error).message).toContain(`http://127.0.0.1:${port}`);
    expect((err as Error).message).not.toContain('s3cret');
    expect((err as ProxyError).cause).toMatchObject({ code: 'ECONNREFUSED' });
  });
});
