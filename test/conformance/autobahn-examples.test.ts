// The Autobahn TestSuite examples, run as built (`node dist/examples/autobahn-*.js`):
//  - autobahn-client.ts against a tiny fake fuzzingserver written here (a WebSocketServer answering
//    /getCaseCount, /runCase?case=N and /updateReports the way `wstest -m fuzzingserver` does);
//  - autobahn-server.ts (the fuzzingclient target) driven by a wsflow client and a raw socket.
// Every wait has a deadline; every child process is killed in afterAll.
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import type * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { connect, WebSocketServer, type CloseInfo, type Message, type WebSocket } from '../../src';
import { acceptKey, closePayload, OP, RawPeer, withTimeout } from './driver';

const ROOT = path.resolve(__dirname, '../..');
const SERVER_JS = path.join(ROOT, 'dist/examples/autobahn-server.js');
const CLIENT_JS = path.join(ROOT, 'dist/examples/autobahn-client.js');
const SOURCES = [path.join(ROOT, 'src'), path.join(ROOT, 'examples/autobahn-server.ts'), path.join(ROOT, 'examples/autobahn-client.ts'), path.join(ROOT, 'examples/args.ts')];

// ---- building and spawning ----------------------------------------------------------------------

function newestMtime(target: string): number {
  const stat = fs.statSync(target);
  if (!stat.isDirectory()) return target.endsWith('.ts') ? stat.mtimeMs : 0;
  let newest = 0;
  for (const entry of fs.readdirSync(target)) newest = Math.max(newest, newestMtime(path.join(target, entry)));
  return newest;
}

function builtMtime(): number {
  return Math.min(...[SERVER_JS, CLIENT_JS].map((f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0)));
}

/**
 * Builds dist/ when the examples are missing or older than their sources. Test files run in parallel
 * workers, and the CLI tests build too: the same lock directory (mkdir is atomic) keeps to one build at a time.
 */
async function ensureBuilt(): Promise<void> {
  const fresh = (): boolean => builtMtime() >= Math.max(...SOURCES.map(newestMtime));
  if (fresh()) return;
  const lock = path.join(ROOT, 'dist/.cli-build-lock');
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 150_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${lock} is held: remove it if no build is running`);
      await new Promise((r) => setTimeout(r, 200));
      if (!fs.existsSync(lock) && fresh()) return;
    }
  }
  try {
    // tsc emits even past type errors elsewhere, so the examples get built either way.
    if (!fresh()) {
      spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], {
        cwd: ROOT,
        stdio: 'ignore',
        timeout: 150_000,
      });
    }
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
  if (!fresh()) throw new Error(`the build did not produce fresh ${SERVER_JS} and ${CLIENT_JS}`);
}

interface Child {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  exit(ms?: number): Promise<number | null>;
}

const children = new Set<ChildProcess>();

function run(script: string, args: string[]): Child {
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const l of listeners) l();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const l of listeners) l();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const name = `${path.basename(script)} ${args.join(' ')}`;
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = out.match(pattern);
          if (m !== null) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`${name}: timed out waiting for ${pattern}\nstdout: ${out}\nstderr: ${err}`));
        }, ms);
        listeners.add(check);
        check();
      });
    },
    exit(ms = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`${name} did not exit within ${ms} ms\nstdout: ${out}\nstderr: ${err}`));
        }, ms);
      });
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
    },
  };
}

beforeAll(() => ensureBuilt(), 180_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});

// ---- the fake fuzzingserver ---------------------------------------------------------------------

/** One message the fake server sends in a case, and how. */
interface Step {
  type: 'text' | 'binary';
  /** The pieces of the message: one frame each (a single piece is sent with writeMessage). */
  pieces: Buffer[];
  /** Send uncompressed even though permessage-deflate is on. */
  plain?: boolean;
}

const repeat = (s: string, n: number): Buffer => Buffer.from(s.repeat(n), 'utf8');

/** What each case sends: text, binary, fragmented, compressed and not, empty, large. */
const CASES: Record<number, Step[]> = {
  1: [
    { type: 'text', pieces: [Buffer.from('Hello, Autobahn')] },
    { type: 'binary', pieces: [Buffer.from(Array.from({ length: 256 }, (_, i) => i))] },
    { type: 'text', pieces: [repeat('κόσμε ', 2000)] },
  ],
  2: [
    // Fragmented, with a multi-byte character split across frames.
    { type: 'text', pieces: [Buffer.from('frag'), Buffer.from('ment κό'), Buffer.from([0xcf]), Buffer.from([0x83, 0x6d, 0x65])] },
    { type: 'binary', pieces: [randomBytes(3000), randomBytes(10), repeat('abc', 5000)] },
    { type: 'binary', pieces: [repeat('uncompressed ', 1000)], plain: true },
  ],
  3: [
    { type: 'text', pieces: [Buffer.alloc(0)] },
    { type: 'binary', pieces: [Buffer.alloc(0)] },
    { type: 'binary', pieces: [Buffer.concat([randomBytes(128 * 1024), repeat('z', 1024 * 1024)])] },
  ],
};

interface CaseResult {
  agent: string | null;
  extensions: string;
  echoes: Message[];
  error: string | null;
  close: CloseInfo | null;
}

interface FakeFuzzingServer {
  url: string;
  counted: number;
  results: Map<number, CaseResult>;
  reports: string[];
  close(): Promise<void>;
}

async function sendStep(ws: WebSocket, step: Step): Promise<void> {
  if (step.pieces.length === 1) {
    await ws.writeMessage(step.pieces[0], step.type, { compress: step.plain !== true });
    return;
  }
  const writer = ws.nextWriter(step.type);
  const done = new Promise<void>((resolve, reject) => {
    writer.once('finish', resolve);
    writer.once('error', reject);
  });
  for (const piece of step.pieces) writer.write(piece);
  writer.end();
  await done;
}

/**
 * A stand-in for `wstest -m fuzzingserver`: `refuse` lists cases whose handshake is refused (403),
 * `drop` cases whose TCP connection is dropped after the first message.
 */
async function fakeFuzzingServer(opts: { refuse?: number[]; drop?: number[] } = {}): Promise<FakeFuzzingServer> {
  const results = new Map<number, CaseResult>();
  const reports: string[] = [];
  let counted = 0;
  const target = (req: http.IncomingMessage): URL => new URL(req.url ?? '/', 'http://fuzzingserver');
  const wss = new WebSocketServer(
    {
      host: '127.0.0.1',
      port: 0,
      upgrader: {
        compression: { threshold: 0 },
        maxPayload: 64 * 1024 * 1024,
        checkOrigin: (req) => !(opts.refuse ?? []).includes(Number(target(req).searchParams.get('case'))),
      },
    },
    (ws, req) => {
      const url = target(req);
      void (async () => {
        switch (url.pathname) {
          case '/getCaseCount':
            counted++;
            await ws.writeMessage(String(Object.keys(CASES).length), 'text');
            await ws.close(1000);
            return;
          case '/runCase': {
            const n = Number(url.searchParams.get('case'));
            const result: CaseResult = { agent: url.searchParams.get('agent'), extensions: ws.extensions, echoes: [], error: null, close: null };
            results.set(n, result);
            const steps = CASES[n] ?? [];
            if ((opts.drop ?? []).includes(n)) {
              await sendStep(ws, steps[0]);
              ws.terminate();
              result.close = await new Promise<CloseInfo>((r) => ws.once('close', r));
              return;
            }
            try {
              const reading = (async () => {
                for (let i = 0; i < steps.length; i++) result.echoes.push(await ws.readMessage());
              })();
              for (const step of steps) await sendStep(ws, step);
              await withTimeout(reading, 10_000, `the echoes of case ${n}`);
            } catch (err) {
              result.error = (err as Error).message;
            }
            result.close = await ws.close(1000);
            return;
          }
          case '/updateReports':
            reports.push(url.searchParams.get('agent') ?? '');
            // The real server writes the reports, then closes; here the client closes first.
            try {
              for await (const _ of ws) void _;
            } catch {
              // ignored: only the call is recorded
            }
            return;
          default:
            await ws.close(1008, 'unknown endpoint');
        }
      })().catch(() => undefined);
    },
  );
  const { port } = await wss.listen();
  return {
    url: `ws://127.0.0.1:${port}`,
    get counted() {
      return counted;
    },
    results,
    reports,
    close: () => wss.close(),
  };
}

function expectEchoes(result: CaseResult | undefined, steps: Step[]): void {
  expect(result).toBeDefined();
  expect(result!.error).toBeNull();
  expect(result!.echoes.map((m) => m.type)).toEqual(steps.map((s) => s.type));
  steps.forEach((step, i) => expect(result!.echoes[i].data.equals(Buffer.concat(step.pieces))).toBe(true));
}

describe('examples/autobahn-client.ts against a fake fuzzingserver', () => {
  test('reads the case count, runs every case echoing each message with its type, then updates the reports', async () => {
    const fuzz = await fakeFuzzingServer();
    try {
      const client = run(CLIENT_JS, ['--url', fuzz.url, '--agent', 'wsflow']);
      const code = await client.exit(30_000);
      expect({ code, stderr: client.stderr() }).toEqual({ code: 0, stderr: '' });
      expect(fuzz.counted).toBe(1);
      expect([...fuzz.results.keys()].sort()).toEqual([1, 2, 3]);
      for (const n of [1, 2, 3]) {
        const result = fuzz.results.get(n)!;
        expect(result.agent).toBe('wsflow');
        // The client offered permessage-deflate and the server took it: the echoes came back compressed too.
        expect(result.extensions).toMatch(/^permessage-deflate/);
        expectEchoes(result, CASES[n]);
        expect(result.close).toEqual({ code: 1000, reason: '', wasClean: true });
      }
      expect(fuzz.reports).toEqual(['wsflow']);
      expect(client.stdout()).toMatch(/^3 cases on ws:\/\/127\.0\.0\.1:\d+ \(agent wsflow\)$/m);
      expect(client.stdout()).toMatch(/^case 3\/3: closed 1000$/m);
      expect(client.stdout()).toMatch(/^reports updated \(closed 1000\)$/m);
      expect(client.stdout()).toMatch(/^done$/m);
    } finally {
      await fuzz.close();
    }
  }, 45_000);

  test('a refused handshake or a dropped connection fails only that case; the others and the reports still run', async () => {
    const fuzz = await fakeFuzzingServer({ refuse: [1], drop: [2] });
    try {
      const client = run(CLIENT_JS, ['--url', `${fuzz.url}/`, '--agent', 'wsflow-ci']);
      const code = await client.exit(30_000);
      expect({ code, stderr: client.stderr() }).toEqual({ code: 0, stderr: '' });
      expect(fuzz.results.has(1)).toBe(false);
      expect(fuzz.results.get(2)?.close?.code).toBe(1006);
      expect(fuzz.results.get(3)?.agent).toBe('wsflow-ci');
      expectEchoes(fuzz.results.get(3), CASES[3]);
      expect(fuzz.reports).toEqual(['wsflow-ci']);
      expect(client.stdout()).toMatch(/^case 1\/3: .*403/m);
      expect(client.stdout()).toMatch(/^case 2\/3: closed 1006 \(unclean\)$/m);
      expect(client.stdout()).toMatch(/^case 3\/3: closed 1000$/m);
      expect(client.stdout()).toMatch(/^done \(1 cases could not be run\)$/m);
    } finally {
      await fuzz.close();
    }
  }, 45_000);

  test('no fuzzing server: exits 1 with the error', async () => {
    const port = await freePort();
    const client = run(CLIENT_JS, ['--url', `ws://127.0.0.1:${port}`]);
    expect(await client.exit(20_000)).toBe(1);
    expect(client.stderr()).toMatch(/ECONNREFUSED/);
  }, 30_000);
});

// ---- the server example -------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Opens a raw TCP connection, performs the opening handshake by hand and returns the peer. */
async function rawClient(port: number, headers: Record<string, string> = {}): Promise<RawPeer> {
  const socket = net.connect(port, '127.0.0.1');
  const key = randomBytes(16).toString('base64');
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
  );
  const { head, rest } = await withTimeout(
    new Promise<{ head: string; rest: Buffer }>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        buf = Buffer.concat([buf, chunk]);
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        socket.removeListener('data', onData);
        socket.pause();
        resolve({ head: buf.subarray(0, end).toString('latin1'), rest: buf.subarray(end + 4) });
      };
      socket.on('data', onData);
      socket.once('error', reject);
    }),
    5000,
    'the 101 answer',
  );
  expect(head).toMatch(/^HTTP\/1\.1 101 /);
  expect(head).toContain(`Sec-WebSocket-Accept: ${acceptKey(key)}`);
  const peer = new RawPeer(socket, true, rest);
  socket.resume();
  return peer;
}

describe('examples/autobahn-server.ts (the fuzzingclient target)', () => {
  let server: Child;
  let port: number;

  beforeAll(async () => {
    server = run(SERVER_JS, ['--addr', '127.0.0.1:0']);
    port = Number((await server.waitFor(/^wsflow Autobahn echo server on ws:\/\/127\.0\.0\.1:(\d+)\/$/m, 15_000))[1]);
  }, 20_000);

  afterAll(async () => {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exit(5000).catch(() => undefined);
    }
  });

  test('echoes text, binary, fragmented and empty messages with their type, compressed, despite an Origin', async () => {
    // wstest sends an Origin header: the example must not apply the same-origin check.
    const ws = await connect(`ws://127.0.0.1:${port}/some/path?x=1`, { compression: { threshold: 0 }, origin: 'http://autobahn.example' });
    try {
      expect(ws.extensions).toMatch(/^permessage-deflate/);
      const steps: Step[] = [...CASES[1], ...CASES[2], ...CASES[3]];
      for (const step of steps) {
        await sendStep(ws, step);
        const echo = await withTimeout(ws.readMessage(), 5000, 'an echo');
        expect(echo.type).toBe(step.type);
        expect(echo.data.equals(Buffer.concat(step.pieces))).toBe(true);
      }
      expect(await withTimeout(ws.close(1000), 5000, 'the close')).toEqual({ code: 1000, reason: '', wasClean: true });
    } finally {
      ws.terminate();
    }
  }, 30_000);

  test('accepts every permessage-deflate window size and both no_context_takeover flags', async () => {
    for (let bits = 8; bits <= 15; bits++) {
      const ws = await connect(`ws://127.0.0.1:${port}/`, {
        compression: { serverMaxWindowBits: bits, clientMaxWindowBits: bits, serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 },
      });
      try {
        expect(ws.extensions).toContain(`server_max_window_bits=${bits}`);
        expect(ws.extensions).toContain('server_no_context_takeover');
        expect(ws.extensions).toContain('client_no_context_takeover');
        const payload = repeat(`window ${bits} `, 3000);
        for (let i = 0; i < 2; i++) {
          await ws.writeMessage(payload, 'text');
          const echo = await withTimeout(ws.readMessage(), 5000, `an echo with window bits ${bits}`);
          expect(echo.type).toBe('text');
          expect(echo.data.equals(payload)).toBe(true);
        }
        await withTimeout(ws.close(1000), 5000, 'the close');
      } finally {
        ws.terminate();
      }
    }
  }, 30_000);

  test('echoes a 20 MiB message (the 9.x limits cases go up to 16 MiB)', async () => {
    const ws = await connect(`ws://127.0.0.1:${port}/`, { compression: true, maxPayload: 64 * 1024 * 1024 });
    try {
      const payload = Buffer.alloc(20 * 1024 * 1024);
      for (let i = 0; i < payload.length; i += 4096) randomBytes(64).copy(payload, i);
      await ws.writeMessage(payload, 'binary');
      const echo = await withTimeout(ws.readMessage(), 20_000, 'the 20 MiB echo');
      expect(echo.type).toBe('binary');
      expect(echo.data.equals(payload)).toBe(true);
      await withTimeout(ws.close(1000), 5000, 'the close');
    } finally {
      ws.terminate();
    }
  }, 40_000);

  test('fails a connection that violates the protocol with the right code, and logs nothing per message', async () => {
    const peer = await rawClient(port, { Origin: 'http://127.0.0.1:9999' });
    await peer.send(peer.text('ping?'));
    const echo = await peer.nextMessage('the echo');
    expect({ opcode: echo.opcode, payload: echo.payload.toString() }).toEqual({ opcode: OP.TEXT, payload: 'ping?' });
    await peer.send(peer.text(Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80])));
    await peer.expectFailure(1007);
    peer.destroy();

    const ping = await rawClient(port);
    await ping.send(ping.ping('hello'));
    await ping.expectControl(OP.PONG, 'hello');
    await ping.send(ping.frame(OP.CLOSE, closePayload(1000, 'bye')));
    await ping.expectClose(1000);
    await ping.expectTcpClose();
    ping.destroy();

    // Only the startup line: a fuzz target must not log per message or per connection.
    expect(server.stdout().trim().split('\n')).toHaveLength(1);
    expect(server.stderr()).toBe('');
  }, 20_000);

  test('shuts down on SIGTERM, closing open connections with 1001', async () => {
    const ws = await connect(`ws://127.0.0.1:${port}/`);
    const closed = new Promise<CloseInfo>((r) => ws.once('close', r));
    server.child.kill('SIGTERM');
    expect((await withTimeout(closed, 10_000, 'the 1001 close')).code).toBe(1001);
    expect(await server.exit(10_000)).toBe(0);
  }, 20_000);
});
