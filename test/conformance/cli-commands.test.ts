// `wsflow` end to end, as a user runs it: the built CLI in a child process. serve + connect piped, connection
// failures, static files (and traversal refused), bench, help/version and usage errors (exit 2).
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { ensureBuilt, killAll, runCli, startServe } from './cli-helpers';

beforeAll(() => ensureBuilt(), 120_000);
afterEach(() => killAll());

describe('help, version, usage errors', () => {
  test('--version and --help', async () => {
    const version = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')).version as string;
    const v = runCli(['--version']);
    expect(await v.exit()).toBe(0);
    expect(v.stdout().trim()).toBe(`wsflow ${version}`);
    const h = runCli(['--help']);
    expect(await h.exit()).toBe(0);
    expect(h.stdout()).toMatch(/Usage: wsflow <command>/);
    for (const cmd of ['serve', 'connect', 'bench']) {
      const c = runCli([cmd, '--help']);
      expect(await c.exit()).toBe(0);
      expect(c.stdout()).toContain(`Usage: wsflow ${cmd}`);
    }
  });

  test.each([
    [[]],
    [['frobnicate']],
    [['connect']],
    [['connect', 'ftp://example.com/']],
    [['connect', 'not a url']],
    [['connect', 'ws://127.0.0.1:1/', '--header', 'no-colon']],
    [['connect', 'ws://127.0.0.1:1/', '--protocol', 'bad protocol']],
    [['connect', 'ws://127.0.0.1:1/', '--bogus']],
    [['bench']],
    [['bench', 'ws://127.0.0.1:1/', '--conns', '0']],
    [['bench', 'ws://127.0.0.1:1/', '--duration', 'soon']],
    [['serve', '--addr', 'localhost:99999']],
    [['serve', '--dir', '/no/such/directory']],
    [['serve', 'extra']],
  ])('wsflow %j exits 2 with a usage message', async (args) => {
    const cli = runCli(args);
    expect(await cli.exit()).toBe(2);
    expect(cli.stderr()).toMatch(/wsflow|Usage/);
  });
});

describe('serve + connect, piped', () => {
  test('stdin lines are sent, echoes printed, then a clean close (exit 0)', async () => {
    const { cli: server, port } = await startServe();
    const lines = ['hello', 'wörld ✓', '', '{"json": true}'];
    const client = runCli(['connect', `ws://127.0.0.1:${port}/echo`, '--wait', '300'], { input: lines.join('\n') + '\n' });
    expect(await client.exit()).toBe(0);
    expect(client.stdout()).toBe(lines.map((l) => `${l}\n`).join(''));
    // The server saw the client's Close 1000.
    await server.waitFor(/closed: 1000/);
  });

  test('subprotocols, headers and compression are passed through', async () => {
    const { port } = await startServe();
    const client = runCli(
      ['connect', `ws://127.0.0.1:${port}/echo`, '--compression', '--header', 'X-Test: 1', '--wait', '200'],
      { input: 'x'.repeat(5000) + '\n' },
    );
    expect(await client.exit()).toBe(0);
    expect(client.stdout()).toBe('x'.repeat(5000) + '\n');
  });

  test('a refused connection exits 1 and says why', async () => {
    const { port } = await startServe();
    const refused = runCli(['connect', 'ws://127.0.0.1:1/']);
    expect(await refused.exit()).toBe(1);
    expect(refused.stderr()).toMatch(/ECONNREFUSED/);
    const notFound = runCli(['connect', `ws://127.0.0.1:${port}/not-here`]);
    expect(await notFound.exit()).toBe(1);
    expect(notFound.stderr()).toMatch(/handshake failed \(HTTP 404\)/);
  });

  test('serve shuts down on SIGTERM, closing connections with 1001', async () => {
    const { cli: server, port } = await startServe();
    const client = runCli(['connect', `ws://127.0.0.1:${port}/echo`]);
    await server.waitFor(/connected/);
    server.child.kill('SIGTERM');
    expect(await server.exit()).toBe(0);
    // The server closed the client cleanly: exit 0, the close reported on stderr.
    expect(await client.exit()).toBe(0);
    expect(client.stderr()).toMatch(/closed: 1001 Server shutting down/);
    client.child.stdin?.end();
  });
});

/** A raw GET, so that paths reach the server exactly as written (no client-side normalization). */
function get(port: number, p: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body, location: res.headers.location }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('serve --dir', () => {
  let base: string;
  beforeAll(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflow-serve-'));
    const pub = path.join(base, 'public');
    fs.mkdirSync(path.join(pub, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(pub, 'index.html'), '<h1>home</h1>');
    fs.writeFileSync(path.join(pub, 'style.css'), 'body{}');
    fs.writeFileSync(path.join(pub, 'sub', 'app.js'), 'console.log(1)');
    fs.writeFileSync(path.join(pub, 'sub', 'index.html'), 'sub home');
    fs.writeFileSync(path.join(pub, 'data.bin'), Buffer.from([1, 2, 3]));
    fs.writeFileSync(path.join(pub, 'image.svg'), '<svg/>');
    fs.writeFileSync(path.join(pub, '.env'), 'SECRET=1');
    fs.writeFileSync(path.join(base, 'secret.txt'), 'outside');
    fs.symlinkSync(path.join(base, 'secret.txt'), path.join(pub, 'link.txt'));
  });
  afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

  test('files with their content types, index.html, redirects, 404s and 405s', async () => {
    const { port } = await startServe(['--dir', path.join(base, 'public')]);
    expect(await get(port, '/')).toMatchObject({ status: 200, type: 'text/html; charset=utf-8', body: '<h1>home</h1>' });
    expect(await get(port, '/style.css')).toMatchObject({ status: 200, type: 'text/css; charset=utf-8', body: 'body{}' });
    expect(await get(port, '/sub/app.js?v=2')).toMatchObject({ status: 200, type: 'text/javascript; charset=utf-8' });
    expect(await get(port, '/image.svg')).toMatchObject({ status: 200, type: 'image/svg+xml' });
    expect(await get(port, '/data.bin')).toMatchObject({ status: 200, type: 'application/octet-stream' });
    expect(await get(port, '/sub')).toMatchObject({ status: 301, location: '/sub/' });
    expect(await get(port, '/sub/')).toMatchObject({ status: 200, body: 'sub home' });
    expect((await get(port, '/missing.html')).status).toBe(404);
    expect((await get(port, '/.env')).status).toBe(404);
    expect((await get(port, '/style.css', 'POST')).status).toBe(405);
    expect((await get(port, '/style.css', 'HEAD')).status).toBe(200);
    expect((await get(port, '/echo')).status).toBe(426);
  });

  test.each(['/../secret.txt', '/%2e%2e/secret.txt', '/sub/..%2f..%2fsecret.txt', '/sub/../../secret.txt', '/link.txt', '/..%5csecret.txt', '/%00'])(
    'refuses %s',
    async (p) => {
      const { port } = await startServe(['--dir', path.join(base, 'public'), '--quiet']);
      const res = await get(port, p);
      expect([400, 403, 404]).toContain(res.status);
      expect(res.body).not.toContain('outside');
    },
  );

  test('the echo endpoint still works next to the files', async () => {
    const { port } = await startServe(['--dir', path.join(base, 'public')]);
    const client = runCli(['connect', `ws://127.0.0.1:${port}/echo`, '--wait', '200'], { input: 'ping\n' });
    expect(await client.exit()).toBe(0);
    expect(client.stdout()).toBe('ping\n');
  });
});

describe('bench', () => {
  test('runs for --duration against serve and prints a summary', async () => {
    const { port } = await startServe(['--quiet']);
    const started = Date.now();
    const bench = runCli(['bench', `ws://127.0.0.1:${port}/echo`, '--conns', '3', '--size', '256', '--duration', '2', '--json']);
    expect(await bench.exit(20_000)).toBe(0);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(elapsed).toBeLessThan(12_000);
    const summary = JSON.parse(bench.stdout()) as Record<string, number>;
    expect(summary).toMatchObject({ conns: 3, size: 256, errors: 0 });
    expect(summary.messages).toBeGreaterThan(100);
    expect(summary.msgsPerSec).toBeGreaterThan(0);
    expect(summary.mbPerSec).toBeCloseTo((summary.msgsPerSec * 256) / 1e6, 5);
    expect(summary.p50ms).toBeGreaterThan(0);
    expect(summary.p99ms).toBeGreaterThanOrEqual(summary.p50ms);
    // Off a TTY, progress is a line per second on stderr.
    expect(bench.stderr()).toMatch(/^1\.00 s: \d+ msgs\/s/m);
  }, 30_000);

  test('the text summary, and exit 1 when nothing can connect', async () => {
    const { port } = await startServe(['--quiet']);
    const bench = runCli(['bench', `ws://127.0.0.1:${port}/echo`, '--duration', '0.5', '--text', '--inflight', '4']);
    expect(await bench.exit()).toBe(0);
    expect(bench.stdout()).toMatch(/msgs\/s, [\d.]+ MB\/s/);
    expect(bench.stdout()).toMatch(/round trip p50 [\d.]+ ms, p99 [\d.]+ ms/);
    expect(bench.stdout()).toMatch(/errors {5}0/);
    const failed = runCli(['bench', 'ws://127.0.0.1:1/', '--duration', '0.5', '--conns', '2']);
    expect(await failed.exit()).toBe(1);
    expect(failed.stdout()).toMatch(/errors {5}2 \(first: .*ECONNREFUSED/);
  });
});
