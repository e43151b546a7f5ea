// Shared machinery of the interop suite: peer detection (skip locally, fail in CI), child processes that
// always die, timeouts on every wait, a wsflow echo server with scenario commands, the wsflow client
// scenario, and a byte-counting TCP proxy to prove that compression really happened on the wire.
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import {
  connect,
  WebSocketServer,
  type CloseInfo,
  type Message,
  type PerMessageDeflateOptions,
  type UpgraderOptions,
  type WebSocket,
} from '../../src';
import { chunksOf, FIXTURES, FRAG_BINARY, FRAG_TEXT, summary, type Fixture, type Summary } from './fixtures';

export const ROOT = path.resolve(__dirname, '../..');
export const PEERS_DIR = path.join(__dirname, 'peers');
export const CACHE_DIR = path.join(ROOT, 'node_modules', '.cache', 'wsflow-interop');
/** Debian's python3 (python3-websockets lives there), not whatever python3 comes first on PATH. */
export const PYTHON = '/usr/bin/python3';
export const CHROMIUM = '/usr/bin/chromium';
/**
 * Chromium's flags for every browser test: headless as root, and no background traffic (this machine's
 * network is closed, and refused connections at start-up slow the launch).
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const GO = '/usr/bin/go';
export const GOPATH = '/usr/share/gocode';
export const IN_CI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
/** Bound of a single wait (a message, a close, a line of output). */
export const STEP_TIMEOUT = 15_000;

// ---- peers present? ----------------------------------------------------------------------------

function runs(cmd: string, args: string[]): boolean {
  try {
    return spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 }).status === 0;
  } catch {
    return false;
  }
}

// WSFLOW_INTEROP_PRETEND_MISSING=python,gorilla,… treats those peers as absent: to check the
// skip-locally / fail-in-CI behaviour without uninstalling anything.
const pretendMissing = new Set((process.env.WSFLOW_INTEROP_PRETEND_MISSING ?? '').split(',').map((s) => s.trim()));

export const peers = {
  python: (): boolean => !pretendMissing.has('python') && fs.existsSync(PYTHON) && runs(PYTHON, ['-c', 'import websockets']),
  gorilla: (): boolean =>
    !pretendMissing.has('gorilla') && fs.existsSync(GO) && fs.existsSync(path.join(GOPATH, 'src/github.com/gorilla/websocket/conn.go')),
  chromium: (): boolean => !pretendMissing.has('chromium') && fs.existsSync(CHROMIUM),
  nodeWebSocket: (): boolean =>
    !pretendMissing.has('node') &&
    runs(process.execPath, ['--experimental-websocket', '--no-warnings', '-e', 'process.exit(typeof WebSocket === "function" ? 0 : 1)']),
};

/**
 * `describe` for one peer. When the peer is missing the block is skipped locally, but in CI
 * (install-peers.sh ran there) its beforeAll throws, so every test in it fails loudly.
 */
export function describePeer(name: string, present: boolean, fn: () => void): void {
  if (!present && !IN_CI) {
    describe.skip(`${name} (peer not installed: run scripts/install-peers.sh)`, fn);
    return;
  }
  describe(name, () => {
    beforeAll(() => {
      if (!present) throw new Error(`interop peer ${name} is missing although CI is set: did scripts/install-peers.sh run?`);
    });
    fn();
  });
}

// ---- timeouts ----------------------------------------------------------------------------------

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- child processes ---------------------------------------------------------------------------

const children = new Set<ChildProcess>();

/** A long-running child (a peer server): its stdout lines, and a way to wait for one. */
export class Peer {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  private readonly listeners: Array<() => void> = [];
  readonly exited: Promise<number | null>;

  constructor(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    // No __pycache__ next to the Python peers.
    const env = { ...(opts.env ?? process.env), PYTHONDONTWRITEBYTECODE: '1' };
    this.child = spawn(cmd, args, { cwd: opts.cwd ?? PEERS_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(this.child);
    let partial = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.trim() !== '') this.lines.push(line.trim());
      for (const l of this.listeners.slice()) l();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.stderr += String(err);
        resolve(null);
      });
      this.child.once('exit', (code) => {
        children.delete(this.child);
        for (const l of this.listeners.slice()) l();
        resolve(code);
      });
    });
  }

  /** The first stdout line matching `re` (already printed or still to come). */
  waitForLine(re: RegExp, ms = STEP_TIMEOUT): Promise<string> {
    return withTimeout(
      new Promise<string>((resolve, reject) => {
        const look = (): void => {
          const line = this.lines.find((l) => re.test(l));
          if (line !== undefined) {
            this.listeners.splice(this.listeners.indexOf(look), 1);
            resolve(line);
          } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
            this.listeners.splice(this.listeners.indexOf(look), 1);
            reject(new Error(`peer exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${re}: ${this.stderr}`));
          }
        };
        this.listeners.push(look);
        look();
      }),
      ms,
      `a line matching ${re} (stderr so far: ${this.stderr.slice(-2000)})`,
    );
  }

  /** The JSON events printed so far. */
  events(): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    return withTimeout(this.exited.then(() => undefined), 5000, 'peer exit');
  }
}

/** Kills every child still running: call from afterAll. */
export async function killAllChildren(): Promise<void> {
  const all = [...children];
  for (const c of all) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(
    all.map((c) =>
      c.exitCode !== null || c.signalCode !== null
        ? Promise.resolve()
        : withTimeout(new Promise<void>((r) => c.once('exit', () => r())), 5000, 'child exit').catch(() => undefined),
    ),
  );
  children.clear();
}

/** Runs a command to completion (killed after `ms`), resolving with its stdout; rejects on a non-zero exit. */
export async function run(cmd: string, args: string[], ms: number, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const peer = new Peer(cmd, args, opts);
  let code: number | null;
  try {
    code = await withTimeout(peer.exited, ms, `${path.basename(cmd)} ${args.join(' ')}`);
  } catch (err) {
    await peer.kill();
    throw new Error(`${(err as Error).message}\nstdout: ${peer.lines.join('\n')}\nstderr: ${peer.stderr}`);
  }
  if (code !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}\nstdout: ${peer.lines.join('\n')}\nstderr: ${peer.stderr}`);
  return peer.lines.join('\n');
}

// ---- building ----------------------------------------------------------------------------------

/** Builds a Go peer (GOPATH mode against Debian's gorilla), cached by source hash; returns the binary. */
export async function buildGo(main: string): Promise<string> {
  const sources = [main, 'fixtures.go'];
  const hash = createHash('sha256');
  for (const s of sources) hash.update(fs.readFileSync(path.join(PEERS_DIR, s)));
  const out = path.join(CACHE_DIR, `${path.basename(main, '.go')}-${hash.digest('hex').slice(0, 16)}`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${out}.tmp${process.pid}`;
  await run(GO, ['build', '-o', tmp, ...sources], 120_000, {
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH,
      GOPROXY: 'off',
      GOFLAGS: '',
      GOCACHE: path.join(CACHE_DIR, 'go-build'),
      CGO_ENABLED: '0',
    },
  });
  fs.renameSync(tmp, out);
  return out;
}

/**
 * The command that runs the example echo server: `node dist/examples/echo-server.js`, rebuilt first
 * (`tsc -p tsconfig.build.json`, as `npm run build`) when older than src/ or examples/. If that build
 * fails (a type error elsewhere is typecheck's business, not interop's), the example runs from source
 * through ts-node's transpile-only mode instead, with a warning — never from a stale dist/.
 */
export async function exampleServerCommand(): Promise<string[]> {
  const out = path.join(ROOT, 'dist/examples/echo-server.js');
  const newest = (dir: string): number =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .map((e) => (e.isDirectory() ? newest(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).mtimeMs))
      .reduce((a, b) => Math.max(a, b), 0);
  const stale = !fs.existsSync(out) || fs.statSync(out).mtimeMs < Math.max(newest(path.join(ROOT, 'src')), newest(path.join(ROOT, 'examples')));
  if (!stale) return [out];
  try {
    await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], 120_000, { cwd: ROOT });
    return [out];
  } catch (err) {
    console.warn(`interop: the build failed, running examples/echo-server.ts from source instead:\n${(err as Error).message.slice(0, 2000)}`);
    return ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'examples/echo-server.ts')];
  }
}

// ---- the wsflow echo server --------------------------------------------------------------------

/** What the wsflow server saw of one connection. */
export interface ServerConn {
  ws: WebSocket;
  protocol: string;
  extensions: string;
  origin: string | undefined;
  received: Summary[];
  /** The 'close' event. */
  closed: Promise<CloseInfo>;
  /** Set by a `srv-close:` command: what `ws.close()` resolved with. */
  serverClose?: CloseInfo;
  /** Pong payloads received. */
  pongs: string[];
  /** Bytes read from / written to the TCP socket, taken at 'close'. */
  bytesRead: number;
  bytesWritten: number;
  errors: string[];
}

export interface EchoServer {
  url: string;
  port: number;
  conns: ServerConn[];
  /** Messages of the handshakes the server refused. */
  handshakeErrors: string[];
  /** Resolves with the `n`th connection (0-based) once it is accepted. */
  conn(n: number): Promise<ServerConn>;
  close(): Promise<void>;
}

/**
 * Runs the wsflow side of one connection: echoes every message with its type, and obeys the commands
 * `srv-ping:X` (ping X; on its pong answer `srv-pong:X`), `srv-close:CODE:REASON` and `srv-fragments`
 * (sends FRAG_TEXT in 4099-byte frames, cutting UTF-8 sequences, then FRAG_BINARY in 100 000-byte frames).
 */
export async function serveConnection(ws: WebSocket, rec: ServerConn): Promise<void> {
  ws.on('pong', (p: Buffer) => rec.pongs.push(p.toString('utf8')));
  try {
    for await (const m of ws) {
      const text = m.type === 'text' ? m.data.toString('utf8') : '';
      if (m.type === 'text' && text.startsWith('srv-ping:')) {
        const payload = text.slice('srv-ping:'.length);
        const pong = new Promise<string>((resolve) => {
          const onPong = (p: Buffer): void => {
            if (p.toString('utf8') !== payload) return;
            ws.off('pong', onPong);
            resolve(p.toString('utf8'));
          };
          ws.on('pong', onPong);
        });
        await ws.ping(payload);
        await ws.writeMessage(`srv-pong:${await withTimeout(pong, STEP_TIMEOUT, 'pong')}`);
      } else if (m.type === 'text' && text.startsWith('srv-close:')) {
        const [, code, reason] = text.split(':', 3) as [string, string, string];
        rec.serverClose = await ws.close(Number(code), reason);
      } else if (m.type === 'text' && text === 'srv-fragments') {
        await writeFragmented(ws, 'text', Buffer.from(FRAG_TEXT, 'utf8'), 4099);
        await writeFragmented(ws, 'binary', FRAG_BINARY, 100000);
      } else {
        rec.received.push(summary(m.type, m.data));
        await ws.writeMessage(m.data, m.type);
      }
    }
  } catch (err) {
    rec.errors.push(String(err));
  }
}

export async function writeFragmented(ws: WebSocket, type: Message['type'], data: Buffer, size: number): Promise<void> {
  const writer = ws.nextWriter(type);
  const finished = new Promise<void>((resolve, reject) => {
    writer.once('finish', resolve);
    writer.once('error', reject);
  });
  for (const chunk of chunksOf(data, size)) {
    if (!writer.write(chunk)) await withTimeout(new Promise<void>((r) => writer.once('drain', () => r())), STEP_TIMEOUT, 'drain');
  }
  writer.end();
  await withTimeout(finished, STEP_TIMEOUT, 'a fragmented message to be written');
}

/**
 * A wsflow echo server on 127.0.0.1. With `page`, plain GETs of `/` get that HTML (for a same-origin
 * browser page) and the WebSocketServer is attached to that HTTP server.
 */
export async function startEchoServer(upgrader: UpgraderOptions, page?: string): Promise<EchoServer> {
  const conns: ServerConn[] = [];
  const waiters: Array<() => void> = [];
  const onConnection = (ws: WebSocket, req: http.IncomingMessage): void => {
    const socket = req.socket;
    let resolveClosed!: (info: CloseInfo) => void;
    const rec: ServerConn = {
      ws,
      protocol: ws.protocol,
      extensions: ws.extensions,
      origin: req.headers.origin,
      received: [],
      closed: new Promise((r) => (resolveClosed = r)),
      pongs: [],
      bytesRead: 0,
      bytesWritten: 0,
      errors: [],
    };
    ws.on('close', (info: CloseInfo) => {
      rec.bytesRead = socket.bytesRead;
      rec.bytesWritten = socket.bytesWritten;
      resolveClosed(info);
    });
    conns.push(rec);
    for (const w of waiters.slice()) w();
    void serveConnection(ws, rec);
  };
  let wss: WebSocketServer;
  let httpServer: http.Server | undefined;
  let port: number;
  const handshakeErrors: string[] = [];
  if (page === undefined) {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', upgrader }, onConnection);
    port = (await wss.listen()).port;
  } else {
    httpServer = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', Connection: 'close' }).end(page);
    });
    wss = new WebSocketServer({ server: httpServer, upgrader }, onConnection);
    const server = httpServer;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    port = (server.address() as net.AddressInfo).port;
  }
  wss.on('handshakeError', (err: Error) => handshakeErrors.push(err.message));
  return {
    url: `ws://127.0.0.1:${port}/`,
    port,
    conns,
    handshakeErrors,
    conn: (n) =>
      withTimeout(
        new Promise<ServerConn>((resolve) => {
          const look = (): void => {
            const c = conns[n];
            if (c !== undefined) {
              waiters.splice(waiters.indexOf(look), 1);
              resolve(c);
            }
          };
          waiters.push(look);
          look();
        }),
        STEP_TIMEOUT,
        `server connection #${n}`,
      ),
    close: async () => {
      await withTimeout(wss.close(), 10_000, 'WebSocketServer.close()').catch(() => undefined);
      if (httpServer !== undefined) {
        const server = httpServer;
        server.closeAllConnections();
        await withTimeout(new Promise<void>((r) => server.close(() => r())), 5000, 'http close').catch(() => undefined);
      }
    },
  };
}

// ---- what a peer client reports ---------------------------------------------------------------

/** The JSON a peer client prints (peers/*_client.*, and the in-process ws client). */
export interface ClientReport {
  conn1: {
    protocol?: string;
    extensions?: string;
    echoes: Array<{ name: string; ok: boolean; type: string; len: number }>;
    clientPong?: string;
    serverPing: string;
    srvFragments: { text: boolean; binary: boolean };
    close: { code: number; reason: string };
    tcpClosedByServer?: boolean;
  };
  conn2: { close: { code: number; reason: string }; unexpected?: string };
}

export function expectedEchoes(fixtures: readonly Fixture[] = FIXTURES): ClientReport['conn1']['echoes'] {
  return fixtures.map((f) => ({ name: f.name, ok: true, type: f.type, len: f.data.length }));
}

// ---- the wsflow client scenario ----------------------------------------------------------------

export interface WsflowClientResult {
  protocol: string;
  extensions: string;
  echoes: Summary[];
  /** Pong payload seen after `ws.ping('cli-ping')`. */
  clientPong: string;
  serverPing: string;
  srvFragments: Summary[];
  /** What `close(4001, 'bye')` resolved with: the peer's answer. */
  close: CloseInfo;
  /** Second connection: the peer closes with 4002 'srv'. */
  serverClose: CloseInfo;
}

async function next(ws: WebSocket, what: string): Promise<Message> {
  return withTimeout(ws.readMessage(), STEP_TIMEOUT, what);
}

/** wsflow's `connect()` against a peer echo server that obeys the srv-* commands. */
export async function runWsflowClient(
  url: string,
  opts: { compression: boolean | PerMessageDeflateOptions; protocols?: string[]; fixtures?: readonly Fixture[] },
): Promise<WsflowClientResult> {
  const fixtures = opts.fixtures ?? FIXTURES;
  const ws = await connect(url, { compression: opts.compression, protocols: opts.protocols ?? ['chat.v2', 'chat'] });
  try {
    const echoes: Summary[] = [];
    for (const f of fixtures) {
      const sent = f.fragment === undefined ? ws.writeMessage(f.data, f.type) : writeFragmented(ws, f.type, f.data, f.fragment);
      await withTimeout(sent, STEP_TIMEOUT, `sending ${f.name}`);
      const m = await next(ws, `echo of ${f.name}`);
      echoes.push(summary(m.type, m.data));
    }
    const pong = withTimeout(
      new Promise<string>((resolve) => ws.once('pong', (p: Buffer) => resolve(p.toString('utf8')))),
      STEP_TIMEOUT,
      'pong of cli-ping',
    );
    await ws.ping('cli-ping');
    const clientPong = await pong;
    await ws.writeMessage('srv-ping:hello');
    const serverPing = (await next(ws, 'srv-pong')).data.toString('utf8');
    await ws.writeMessage('srv-fragments');
    const t = await next(ws, 'fragmented text');
    const b = await next(ws, 'fragmented binary');
    const close = await withTimeout(ws.close(4001, 'bye'), STEP_TIMEOUT, 'close(4001)');

    const ws2 = await connect(url, { compression: opts.compression });
    let serverClose: CloseInfo;
    try {
      const closed = new Promise<CloseInfo>((resolve) => ws2.once('close', resolve));
      await ws2.writeMessage('srv-close:4002:srv');
      serverClose = await withTimeout(closed, STEP_TIMEOUT, 'the peer closing with 4002');
    } finally {
      ws2.terminate();
    }
    return {
      protocol: ws.protocol,
      extensions: ws.extensions,
      echoes,
      clientPong,
      serverPing,
      srvFragments: [summary(t.type, t.data), summary(b.type, b.data)],
      close,
      serverClose,
    };
  } finally {
    ws.terminate();
  }
}

// ---- a byte-counting TCP proxy -----------------------------------------------------------------

export interface CountingProxy {
  port: number;
  /** Bytes client → server and server → client so far. */
  up: number;
  down: number;
  close(): Promise<void>;
}

export async function countingProxy(targetPort: number): Promise<CountingProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: CountingProxy = { port: 0, up: 0, down: 0, close: async () => undefined };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (d: Buffer) => (proxy.up += d.length));
    upstream.on('data', (d: Buffer) => (proxy.down += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done).on('close', () => upstream.end());
    upstream.on('error', done).on('close', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  proxy.port = (server.address() as net.AddressInfo).port;
  proxy.close = async () => {
    for (const s of sockets) s.destroy();
    await withTimeout(new Promise<void>((r) => server.close(() => r())), 5000, 'proxy close').catch(() => undefined);
  };
  return proxy;
}

// ---- assertions shared by the peers ------------------------------------------------------------

export interface ClientRunExpectations {
  compression: boolean;
  fixtures?: readonly Fixture[];
  /** The peer client pinged with 'cli-ping' (its API allows it). */
  clientPing: boolean;
  /** The peer client offered subprotocols chat.v2, chat. */
  protocol?: string;
  /** When compression was agreed, whether the peer compresses what it sends too (default true). */
  peerCompresses?: boolean;
  /**
   * Compressed bytes on the wire over message bytes must stay below this (default 0.25). Small windows
   * need more: zlib never refers back more than 2^bits - 262 bytes, so with 9 bits (250) the fixtures'
   * 251- and 256-byte periods find no match at all.
   */
  maxRatio?: number;
}

/** A peer client ran its scenario against `server` (an echo server from startEchoServer). */
export async function expectPeerClientRun(report: ClientReport, server: EchoServer, exp: ClientRunExpectations): Promise<void> {
  const fixtures = exp.fixtures ?? FIXTURES;
  const [c1, c2] = await Promise.all([server.conn(0), server.conn(1)]);
  const closed1 = await withTimeout(c1.closed, STEP_TIMEOUT, 'server side close of connection 1');
  const closed2 = await withTimeout(c2.closed, STEP_TIMEOUT, 'server side close of connection 2');

  // peer → wsflow: every message arrived whole and intact (the wsflow side hashes them)
  expect(c1.received).toEqual(fixtures.map((f) => summary(f.type, f.data)));
  // wsflow → peer: the echoes arrived intact (the peer compares them)
  expect(report.conn1.echoes).toEqual(expectedEchoes(fixtures));
  // server-initiated ping answered by the peer's automatic pong
  expect(report.conn1.serverPing).toBe('srv-pong:hello');
  expect(c1.pongs).toContain('hello');
  if (exp.clientPing) expect(report.conn1.clientPong).toBe('cli-ping');
  // fragmented messages from wsflow (text frames cut inside UTF-8 sequences)
  expect(report.conn1.srvFragments).toEqual({ text: true, binary: true });
  if (exp.protocol !== undefined) {
    expect(c1.protocol).toBe(exp.protocol);
    expect(report.conn1.protocol).toBe(exp.protocol);
  }
  // negotiated compression, and proof on the wire: megabytes of very redundant data each way
  const total = fixtures.reduce((n, f) => n + f.data.length, 0);
  if (exp.compression) {
    const ratio = exp.maxRatio ?? 0.25;
    expect(c1.extensions).toMatch(/^permessage-deflate\b/);
    if (exp.peerCompresses ?? true) expect(c1.bytesRead).toBeLessThan(total * ratio);
    else expect(c1.bytesRead).toBeGreaterThan(total);
    expect(c1.bytesWritten).toBeLessThan(total * ratio);
  } else {
    expect(c1.extensions).toBe('');
    expect(c1.bytesRead).toBeGreaterThan(total);
    expect(c1.bytesWritten).toBeGreaterThan(total);
  }
  // the peer closed with 4001 'bye': wsflow saw both, the peer got wsflow's echo of the code
  expect(closed1).toEqual({ code: 4001, reason: 'bye', wasClean: true });
  expect(report.conn1.close.code).toBe(4001);
  // wsflow closed with 4002 'srv': the peer saw both, wsflow got the peer's echo of the code
  expect(report.conn2.close).toMatchObject({ code: 4002, reason: 'srv' });
  expect(report.conn2.unexpected).toBeUndefined();
  expect(c2.serverClose).toMatchObject({ code: 4002, wasClean: true });
  expect(closed2).toMatchObject({ code: 4002, wasClean: true });
  expect([...c1.errors, ...c2.errors]).toEqual([]);
}

/** wsflow's client ran its scenario against a peer server that logs JSON close events. */
export async function expectWsflowClientRun(
  result: WsflowClientResult,
  exp: {
    compression: boolean;
    fixtures?: readonly Fixture[];
    protocol?: string;
    proxy?: CountingProxy;
    /** See {@link ClientRunExpectations.maxRatio}. */
    maxRatio?: number;
    closeEvents?: () => Promise<Array<Record<string, unknown>>>;
  },
): Promise<void> {
  const fixtures = exp.fixtures ?? FIXTURES;
  expect(result.echoes).toEqual(fixtures.map((f) => summary(f.type, f.data)));
  expect(result.clientPong).toBe('cli-ping');
  expect(result.serverPing).toBe('srv-pong:hello');
  expect(result.srvFragments).toEqual([summary('text', Buffer.from(FRAG_TEXT, 'utf8')), summary('binary', FRAG_BINARY)]);
  if (exp.protocol !== undefined) expect(result.protocol).toBe(exp.protocol);
  if (exp.compression) expect(result.extensions).toMatch(/^permessage-deflate\b/);
  else expect(result.extensions).toBe('');
  if (exp.proxy !== undefined) {
    const total = fixtures.reduce((n, f) => n + f.data.length, 0);
    if (exp.compression) {
      expect(exp.proxy.up).toBeLessThan(total * (exp.maxRatio ?? 0.25));
      expect(exp.proxy.down).toBeLessThan(total * (exp.maxRatio ?? 0.25));
    } else {
      expect(exp.proxy.up).toBeGreaterThan(total);
      expect(exp.proxy.down).toBeGreaterThan(total);
    }
  }
  expect(result.close).toMatchObject({ code: 4001, wasClean: true });
  expect(result.serverClose).toEqual({ code: 4002, reason: 'srv', wasClean: true });
  if (exp.closeEvents !== undefined) {
    const events = await exp.closeEvents();
    expect(events.find((e) => e.initiator === 'client')).toMatchObject({ code: 4001, reason: 'bye' });
    expect(events.find((e) => e.initiator === 'server')).toMatchObject({ code: 4002 });
  }
}

/** Waits until a peer server has logged `n` close events, and returns them. */
export async function closeEventsOf(peer: Peer, n: number): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + STEP_TIMEOUT;
  for (;;) {
    const events = peer.events().filter((e) => e.event === 'close');
    if (events.length >= n) return events;
    if (Date.now() > deadline) throw new Error(`peer logged ${events.length} close events of ${n}: ${peer.lines.join('\n')}\n${peer.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
