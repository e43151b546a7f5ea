// The transport seam of connect(): Unix sockets (ws+unix: URLs and the socketPath option, the server on
// server.listen(path)), custom createConnection transports (sync, async, TLS, a plain Duplex), and the
// bad input that must be refused before any I/O.
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Duplex } from 'stream';
import * as tls from 'tls';
import { connect, HandshakeError, type TransportOptions, type WebSocket } from '../../src';
import { makeCert, type TestCert } from '../helpers/certs';
import { startEchoTarget, type EchoTarget } from '../helpers/echo-targets';

let dir: string;
let cert: TestCert;
const targets: EchoTarget[] = [];
const clients: WebSocket[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflow-unix-'));
  cert = makeCert();
});
afterEach(async () => {
  for (const ws of clients.splice(0)) ws.terminate();
  await Promise.all(targets.splice(0).map((t) => t.close()));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(cert.dir, { recursive: true, force: true });
});

async function target(opts: Parameters<typeof startEchoTarget>[0] = {}): Promise<EchoTarget> {
  const t = await startEchoTarget(opts);
  targets.push(t);
  return t;
}

async function echo(ws: WebSocket, text = 'hello'): Promise<string> {
  clients.push(ws);
  await ws.writeMessage(text);
  const m = await ws.readMessage();
  return m.data.toString('utf8');
}

let n = 0;
const sockPath = (): string => path.join(dir, `s${n++}.sock`);

describe('Unix sockets', () => {
  test('ws+unix:///socket:/request/path reaches a server on server.listen(path)', async () => {
    const p = sockPath();
    const t = await target({ socketPath: p });
    const ws = await connect(`ws+unix://${p}:/chat/room?x=1`);
    expect(await echo(ws)).toBe('hello');
    expect(t.seen[0]?.url).toBe('/chat/room?x=1');
    expect(t.seen[0]?.headers.host).toBe('localhost');
  });

  test('ws+unix: without a request path asks for /', async () => {
    const p = sockPath();
    const t = await target({ socketPath: p });
    expect(await echo(await connect(`ws+unix://${p}`))).toBe('hello');
    expect(t.seen[0]?.url).toBe('/');
  });

  test('the socketPath option keeps the URL for Host and the request line', async () => {
    const p = sockPath();
    const t = await target({ socketPath: p });
    const ws = await connect('ws://app.internal:8080/feed', { socketPath: p });
    expect(await echo(ws)).toBe('hello');
    expect(t.seen[0]?.url).toBe('/feed');
    expect(t.seen[0]?.headers.host).toBe('app.internal:8080');
  });

  test('wss+unix: runs TLS over the socket', async () => {
    const p = sockPath();
    await target({ socketPath: p, tls: cert });
    const ws = await connect(`wss+unix://${p}:/`, { ca: cert.cert, servername: 'localhost' });
    expect(await echo(ws)).toBe('hello');
  });

  test('the environment proxy is not used for a Unix socket', async () => {
    const p = sockPath();
    await target({ socketPath: p });
    const saved = process.env.ws_proxy;
    process.env.ws_proxy = 'http://127.0.0.1:1'; // nothing listens there
    try {
      expect(await echo(await connect(`ws+unix://${p}:/`))).toBe('hello');
    } finally {
      if (saved === undefined) delete process.env.ws_proxy;
      else process.env.ws_proxy = saved;
    }
  });

  test('a missing socket is the network error', async () => {
    await expect(connect(`ws+unix://${path.join(dir, 'nobody.sock')}:/`)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('createConnection', () => {
  test('is called with the target and its socket carries the handshake', async () => {
    const t = await target();
    const calls: TransportOptions[] = [];
    const ws = await connect('ws://example.test:1234/x', {
      createConnection: (o) => {
        calls.push(o);
        return net.connect(t.port, '127.0.0.1');
      },
    });
    expect(await echo(ws)).toBe('hello');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ host: 'example.test', port: 1234, secure: false });
    expect(calls[0]?.signal).toBeInstanceOf(AbortSignal);
    expect(t.seen[0]?.headers.host).toBe('example.test:1234');
  });

  test('may resolve asynchronously', async () => {
    const t = await target();
    const ws = await connect('ws://example.test/', {
      createConnection: async () => {
        const s = net.connect(t.port, '127.0.0.1');
        await new Promise((r) => s.once('connect', r));
        return s;
      },
    });
    expect(await echo(ws)).toBe('hello');
  });

  test('the options suit tls.connect for wss:', async () => {
    const t = await target({ tls: cert });
    let seen: TransportOptions | undefined;
    const ws = await connect(`wss://localhost:${t.port}/`, {
      ca: cert.cert,
      createConnection: (o) => {
        seen = o;
        return tls.connect({ ...o, host: '127.0.0.1' });
      },
    });
    expect(await echo(ws)).toBe('hello');
    expect(seen).toMatchObject({ servername: 'localhost', secure: true });
  });

  test('any Duplex will do, not only a socket', async () => {
    const t = await target();
    let written = 0;
    const ws = await connect('ws://example.test/', {
      createConnection: () => {
        const sock = net.connect(t.port, '127.0.0.1');
        const d = new Duplex({
          read() {
            sock.resume();
          },
          write(chunk: Buffer, _enc, cb) {
            written += chunk.length;
            sock.write(chunk, cb);
          },
          final(cb) {
            sock.end();
            cb();
          },
          destroy(err, cb) {
            sock.destroy();
            cb(err);
          },
        });
        sock.on('data', (c: Buffer) => {
          if (!d.push(c)) sock.pause();
        });
        sock.on('end', () => d.push(null));
        sock.on('close', () => d.destroy());
        return d;
      },
    });
    expect(await echo(ws, 'through a Duplex')).toBe('through a Duplex');
    expect(written).toBeGreaterThan(100);
  });

  test('a transport that never answers ends at handshakeTimeout, its signal aborted', async () => {
    let signal: AbortSignal | undefined;
    const err = await connect('ws://example.test/', {
      handshakeTimeout: 200,
      createConnection: (o) => {
        signal = o.signal;
        return new Promise<Duplex>(() => undefined);
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandshakeError);
    expect((err as HandshakeError).status).toBe(0);
    expect(signal?.aborted).toBe(true);
  });

  test('an abort ends a transport that never answers, and a late Duplex is destroyed', async () => {
    const ac = new AbortController();
    let late: net.Socket | undefined;
    const t = await target();
    const p = connect('ws://example.test/', {
      signal: ac.signal,
      createConnection: () =>
        new Promise<Duplex>((resolve) => {
          setImmediate(() => ac.abort());
          setTimeout(() => resolve((late = net.connect(t.port, '127.0.0.1'))), 50);
        }),
    });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    await new Promise<void>((resolve) => {
      const check = (): void => (late?.destroyed ? resolve() : void setTimeout(check, 10));
      check();
    });
  });

  test('a transport that returns something else is a TypeError', async () => {
    await expect(connect('ws://example.test/', { createConnection: () => ({}) as unknown as Duplex })).rejects.toThrow(TypeError);
  });
});

describe('bad input is refused before any I/O', () => {
  const nothing = (): Duplex => {
    throw new Error('no I/O expected');
  };
  test.each([
    ['an empty socketPath', { socketPath: '' }],
    ['a socketPath with NUL', { socketPath: '/tmp/a\0b' }],
    ['createConnection not a function', { createConnection: 42 as unknown as () => Duplex }],
    ['a proxy with socketPath', { socketPath: '/tmp/x.sock', proxy: 'http://127.0.0.1:3128' }],
    ['a proxy with createConnection', { createConnection: nothing, proxy: 'http://127.0.0.1:3128' }],
    ['a proxy of the wrong type', { proxy: 42 as unknown as string }],
    ['an unsupported proxy scheme', { proxy: 'ftp://127.0.0.1:21' }],
    ['a proxy URL with a path', { proxy: 'http://127.0.0.1:3128/x' }],
    ['followRedirects not a boolean', { followRedirects: 'yes' as unknown as boolean }],
    ['proxyHeaders with CR/LF', { proxy: 'http://127.0.0.1:3128', proxyHeaders: { 'X-A': 'a\r\nb' } }],
    ['proxyHeaders setting Host', { proxy: 'http://127.0.0.1:3128', proxyHeaders: { Host: 'x' } }],
  ])('%s: TypeError', async (_name, opts) => {
    await expect(connect('ws://127.0.0.1:1/', { createConnection: undefined, ...opts })).rejects.toThrow(TypeError);
  });

  test.each([[-1], [1.5], [101], [Number.NaN]])('maxRedirects %p: RangeError', async (maxRedirects) => {
    await expect(connect('ws://127.0.0.1:1/', { maxRedirects })).rejects.toThrow(RangeError);
  });

  test('ws+unix: URLs without a socket path, or with a host, are TypeErrors', async () => {
    await expect(connect('ws+unix:///')).rejects.toThrow(TypeError);
    await expect(connect('ws+unix://host/tmp/x.sock')).rejects.toThrow(TypeError);
    await expect(connect('ws+unix:///tmp/x.sock', { socketPath: '/tmp/y.sock' })).rejects.toThrow(TypeError);
  });

  test('the proxy credentials never appear in the TypeError', async () => {
    const err = await connect('ws://127.0.0.1:1/', { proxy: 'gopher://user:s3cr3t@127.0.0.1:3128' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(String((err as Error).message)).not.toContain('s3cr3t');
    const err2 = await connect('ws://127.0.0.1:1/', { proxy: 'http://user:s3cr3t@[bad' }).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(TypeError);
    expect(String((err2 as Error).message)).not.toContain('s3cr3t');
  });
});
