// followRedirects: real servers that answer the upgrade request with 301/302/303/307/308; what is
// followed, what is refused (wss: to ws:, loops, the limit, onto or off a Unix socket) and which
// credentials survive a change of origin.
import * as fs from 'fs';
import type * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { connect, HandshakeError, type WebSocket } from '../../src';
import { makeCert, type TestCert } from '../helpers/certs';
import { startEchoTarget, type EchoTarget, type EchoTargetOptions } from '../helpers/echo-targets';

let cert: TestCert;
let dir: string;
const targets: EchoTarget[] = [];
const clients: WebSocket[] = [];

beforeAll(() => {
  cert = makeCert();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflow-redirect-'));
});
afterEach(async () => {
  for (const ws of clients.splice(0)) ws.terminate();
  await Promise.all(targets.splice(0).map((t) => t.close()));
});
afterAll(() => {
  fs.rmSync(cert.dir, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});

async function target(opts: EchoTargetOptions = {}): Promise<EchoTarget> {
  const t = await startEchoTarget(opts);
  targets.push(t);
  return t;
}

/** A server that answers requests for `from` with `status` and a Location computed when asked. */
async function redirector(routes: Record<string, [number, () => string | undefined]>, opts: EchoTargetOptions = {}): Promise<EchoTarget> {
  return target({
    ...opts,
    intercept: (req: http.IncomingMessage, res: http.ServerResponse) => {
      const route = routes[req.url ?? ''];
      if (route === undefined) return false;
      const location = route[1]();
      res.writeHead(route[0], location !== undefined ? { Location: location } : {}).end();
      return true;
    },
  });
}

async function works(ws: WebSocket): Promise<void> {
  clients.push(ws);
  await ws.writeMessage('ping?');
  expect((await ws.readMessage()).data.toString()).toBe('ping?');
}

test.each([301, 302, 303, 307, 308])('%i to another server is followed', async (status) => {
  const b = await target();
  const a = await redirector({ '/old': [status, () => `ws://127.0.0.1:${b.port}/new?x=1`] });
  await works(await connect(`ws://127.0.0.1:${a.port}/old`, { followRedirects: true }));
  expect(b.seen.map((s) => s.url)).toEqual(['/new?x=1']);
});

test('without followRedirects a redirect is a HandshakeError with its status', async () => {
  const a = await redirector({ '/': [302, () => 'ws://127.0.0.1:9/'] });
  const err = await connect(`ws://127.0.0.1:${a.port}/`).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HandshakeError);
  expect((err as HandshakeError).status).toBe(302);
});

test('a relative Location on the same origin keeps Authorization and Cookie', async () => {
  const a = await redirector({ '/old': [307, () => '/new'] });
  await works(
    await connect(`ws://user:pw@127.0.0.1:${a.port}/old`, { followRedirects: true, headers: { Cookie: 'sid=1', 'X-Other': 'kept' } }),
  );
  const last = a.seen[a.seen.length - 1];
  expect(last?.url).toBe('/new');
  expect(last?.headers.authorization).toBe(`Basic ${Buffer.from('user:pw').toString('base64')}`);
  expect(last?.headers.cookie).toBe('sid=1');
});

test('Authorization and Cookie are dropped when the origin changes; other headers are kept', async () => {
  const b = await target();
  const a = await redirector({ '/': [302, () => `http://127.0.0.1:${b.port}/`] });
  await works(
    await connect(`ws://user:pw@127.0.0.1:${a.port}/`, {
      followRedirects: true,
      headers: { Authorization: 'Bearer secret', Cookie: 'sid=1', 'X-Other': 'kept' },
    }),
  );
  expect(a.seen[0]?.headers.authorization).toBe('Bearer secret');
  expect(b.seen[0]?.headers.authorization).toBeUndefined();
  expect(b.seen[0]?.headers.cookie).toBeUndefined();
  expect(b.seen[0]?.headers['x-other']).toBe('kept');
  expect(b.seen[0]?.headers.host).toBe(`127.0.0.1:${b.port}`);
});

test('ws: to wss: is followed', async () => {
  const b = await target({ tls: cert });
  const a = await redirector({ '/': [301, () => `wss://localhost:${b.port}/secure`] });
  await works(await connect(`ws://127.0.0.1:${a.port}/`, { followRedirects: true, ca: cert.cert }));
  expect(b.seen[0]?.url).toBe('/secure');
});

test('wss: to ws: is refused', async () => {
  const b = await target();
  const a = await redirector({ '/': [302, () => `ws://127.0.0.1:${b.port}/`] }, { tls: cert });
  const err = await connect(`wss://localhost:${a.port}/`, { followRedirects: true, ca: cert.cert }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HandshakeError);
  expect((err as Error).message).toMatch(/wss: to ws:/);
  expect(b.seen).toHaveLength(0);
});

test('a loop ends with a HandshakeError', async () => {
  let bPort = 0;
  const a = await redirector({ '/a': [302, () => `ws://127.0.0.1:${bPort}/b`] });
  const b = await redirector({ '/b': [302, () => `ws://127.0.0.1:${a.port}/a`] });
  bPort = b.port;
  const err = await connect(`ws://127.0.0.1:${a.port}/a`, { followRedirects: true }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HandshakeError);
  expect((err as Error).message).toMatch(/Redirect loop/);
  expect(a.seen).toHaveLength(1);
  expect(b.seen).toHaveLength(1);
});

test('the limit ends with a HandshakeError: maxRedirects followed, not one more', async () => {
  const routes: Record<string, [number, () => string]> = {};
  for (let i = 0; i < 10; i++) routes[`/${i}`] = [302, () => `/${i + 1}`];
  const a = await redirector(routes);
  const err = await connect(`ws://127.0.0.1:${a.port}/0`, { followRedirects: true, maxRedirects: 3 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HandshakeError);
  expect((err as Error).message).toMatch(/Too many redirects/);
  expect(a.seen.map((s) => s.url)).toEqual(['/0', '/1', '/2', '/3']);
  await expect(connect(`ws://127.0.0.1:${a.port}/0`, { followRedirects: true, maxRedirects: 0 })).rejects.toThrow(/Too many redirects/);
});

test('a redirect without Location, or to another scheme, is a HandshakeError', async () => {
  const a = await redirector({ '/none': [302, () => undefined], '/ftp': [302, () => 'ftp://127.0.0.1/'] });
  await expect(connect(`ws://127.0.0.1:${a.port}/none`, { followRedirects: true })).rejects.toThrow(/without a Location/);
  await expect(connect(`ws://127.0.0.1:${a.port}/ftp`, { followRedirects: true })).rejects.toThrow(/ftp: scheme/);
});

test('never onto a Unix socket', async () => {
  const sock = path.join(dir, 'onto.sock');
  const u = await target({ socketPath: sock });
  const a = await redirector({ '/': [302, () => `ws+unix://${sock}:/`] });
  await expect(connect(`ws://127.0.0.1:${a.port}/`, { followRedirects: true })).rejects.toThrow(/onto a Unix socket/);
  expect(u.seen).toHaveLength(0);
});

test('never off a Unix socket; a path on the same socket is followed', async () => {
  const b = await target();
  const sock = path.join(dir, 'off.sock');
  const u = await redirector({ '/away': [302, () => `ws://127.0.0.1:${b.port}/`], '/old': [308, () => '/new'] }, { socketPath: sock });
  await expect(connect(`ws+unix://${sock}:/away`, { followRedirects: true })).rejects.toThrow(/off a Unix socket/);
  expect(b.seen).toHaveLength(0);
  await works(await connect(`ws+unix://${sock}:/old`, { followRedirects: true }));
  expect(u.seen.map((s) => s.url)).toEqual(['/away', '/old', '/new']);
});

test('the proxy is chosen again for the new target', async () => {
  const b = await target();
  const a = await redirector({ '/': [302, () => `ws://localhost:${b.port}/`] });
  const asked: string[] = [];
  await works(
    await connect(`ws://127.0.0.1:${a.port}/`, {
      followRedirects: true,
      proxy: (t) => {
        asked.push(t.href);
        return null;
      },
    }),
  );
  expect(asked).toEqual([`ws://127.0.0.1:${a.port}/`, `ws://localhost:${b.port}/`]);
});
