// Proxies that misbehave: hang up mid-handshake, stall, flood, answer garbage or talk too much. Each
// must end the attempt with a clear error within the timeout and leave no socket open on either side.
import * as net from 'net';
import { connect, HandshakeError, ProxyError } from '../../src';
import { MAX_PROXY_RESPONSE_HEAD } from '../../src/transport/http-connect';

interface FakeProxy {
  url: string;
  /** Resolves when the client's connection to the fake proxy has closed. */
  clientGone: Promise<void>;
  received: () => Buffer;
  close(): Promise<void>;
}

const proxies: FakeProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

/** A TCP server standing in for a proxy; `behave` gets each connection and everything it sent so far. */
async function fakeProxy(scheme: string, behave: (socket: net.Socket, received: Buffer) => void): Promise<FakeProxy> {
  const sockets = new Set<net.Socket>();
  let received = Buffer.alloc(0);
  let gone!: () => void;
  const clientGone = new Promise<void>((r) => (gone = r));
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      gone();
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      behave(socket, received);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const p: FakeProxy = {
    url: `${scheme}://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    clientGone,
    received: () => received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  proxies.push(p);
  return p;
}

const headComplete = (b: Buffer): boolean => b.includes('\r\n\r\n');

test('a proxy that hangs up after reading CONNECT: ProxyError 0, not a hang', async () => {
  const p = await fakeProxy('http', (s, r) => headComplete(r) && s.destroy());
  const err = await connect('ws://127.0.0.1:9/', { proxy: p.url, handshakeTimeout: 30_000 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ProxyError);
  expect((err as ProxyError).status).toBe(0);
  expect((err as Error).message).toMatch(/closed the connection/);
  expect(p.received().toString('latin1')).toMatch(/^CONNECT 127\.0\.0\.1:9 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:9\r\n/);
});

test('a proxy that never answers: the handshake timeout, the proxy connection closed', async () => {
  const p = await fakeProxy('http', () => undefined);
  const err = await connect('ws://127.0.0.1:9/', { proxy: p.url, handshakeTimeout: 300 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HandshakeError);
  expect((err as HandshakeError).status).toBe(0);
  expect((err as Error).message).toMatch(/timed out after 300 ms/);
  await p.clientGone;
});

test('a stalled proxy ends on abort: AbortError, the proxy connection closed', async () => {
  const p = await fakeProxy('socks5', () => undefined);
  const ac = new AbortController();
  const attempt = connect('ws://127.0.0.1:9/', { proxy: p.url, signal: ac.signal, handshakeTimeout: 0 });
  await new Promise<void>((resolve) => {
    const poll = (): void => (p.received().length > 0 ? resolve() : void setTimeout(poll, 5));
    poll();
  });
  ac.abort();
  await expect(attempt).rejects.toMatchObject({ name: 'AbortError' });
  await p.clientGone;
});

test(`a proxy that floods its answer: ProxyError after ${MAX_PROXY_RESPONSE_HEAD} bytes, long before the timeout`, async () => {
  const line = Buffer.from(`X-Filler: ${'a'.repeat(1000)}\r\n`);
  const p = await fakeProxy('http', (s, r) => {
    if (!headComplete(r)) return;
    s.write('HTTP/1.1 200 Connection established\r\n');
    // Endless header lines, never the blank line; stops once the client hangs up.
    const pump = (): void => {
      while (!s.destroyed && s.write(line));
      if (!s.destroyed) s.once('drain', pump);
    };
    pump();
  });
  const err = await connect('ws://127.0.0.1:9/', { proxy: p.url, handshakeTimeout: 30_000 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ProxyError);
  expect((err as Error).message).toMatch(/more than 16384 bytes/);
  await p.clientGone;
});

test('a proxy that answers garbage: ProxyError, not HTTP', async () => {
  const p = await fakeProxy('http', (s, r) => headComplete(r) && s.write('SSH-2.0-OpenSSH_9.2\r\n\r\n'));
  await expect(connect('ws://127.0.0.1:9/', { proxy: p.url })).rejects.toThrow(/not HTTP\/1\.1/);
  await p.clientGone;
});

test('a proxy that sends bytes after its 200, before the request: refused', async () => {
  const p = await fakeProxy('http', (s, r) => headComplete(r) && s.write('HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n'));
  await expect(connect('ws://127.0.0.1:9/', { proxy: p.url })).rejects.toThrow(/sent data after opening the tunnel/);
  await p.clientGone;
});

test("a refusal's reason phrase is cut short and control characters replaced", async () => {
  const p = await fakeProxy('http', (s, r) => headComplete(r) && s.end(`HTTP/1.1 502 ${'\x1b[31m'}${'x'.repeat(500)}\r\n\r\n`));
  const err = (await connect('ws://127.0.0.1:9/', { proxy: p.url }).catch((e: unknown) => e)) as ProxyError;
  expect(err.status).toBe(502);
  expect(err.message).not.toContain('\x1b');
  expect(err.message.length).toBeLessThan(300);
});

test('a SOCKS5 proxy that answers another version: ProxyError', async () => {
  const p = await fakeProxy('socks5', (s) => s.write(Buffer.from([4, 0])));
  await expect(connect('ws://127.0.0.1:9/', { proxy: p.url })).rejects.toThrow(/does not speak SOCKS5/);
  await p.clientGone;
});

test('a SOCKS5 proxy that picks an authentication method nobody offered: ProxyError', async () => {
  const p = await fakeProxy('socks5', (s) => s.write(Buffer.from([5, 2])));
  await expect(connect('ws://127.0.0.1:9/', { proxy: p.url })).rejects.toThrow(/not offered/);
  await p.clientGone;
});

test('a SOCKS4a proxy that rejects: its reply code, named', async () => {
  const p = await fakeProxy('socks4a', (s, r) => r.length >= 9 && s.write(Buffer.from([0, 91, 0, 0, 0, 0, 0, 0])));
  const err = (await connect('ws://example.test:9/', { proxy: p.url }).catch((e: unknown) => e)) as ProxyError;
  expect(err).toBeInstanceOf(ProxyError);
  expect(err.socksReply).toBe(91);
  // The request carried the name for the proxy to resolve (SOCKS4a), after an empty user id.
  expect(p.received().subarray(0, 8)).toEqual(Buffer.from([4, 1, 0, 9, 0, 0, 0, 1]));
  expect(p.received().subarray(8).toString('latin1')).toBe('\0example.test\0');
});
