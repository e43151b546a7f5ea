/**
 * WebSockets over HTTP/2 (RFC 8441) against HTTP/1.1, both over TLS on loopback.
 *
 *   npm run bench:http2                       both benchmarks, server in a child process
 *   npm run bench:http2 -- --quick            shorter, fewer cells
 *   npm run bench:http2 -- --one-process      server and client in this one process (the earlier method)
 *   npm run bench:http2 -- --ab               adds "h2 node": h2 with node's default 64 KiB windows on both
 *                                             ends, against wsflow's (see src/http2/client.ts, server.ts)
 *   npm run bench:http2 -- --server-window   adds "h2 sw": h2 to a server whose settings.initialWindowSize
 *                                             is 1 MiB (node's default, 64 KiB, is what the "h2" server has)
 *   npm run bench:http2 -- --counts 100 --sizes 1024 --rounds 9 --no-open
 *   node --cpu-prof dist/bench/http2.js --only h2 --counts 100 --sizes 1024 --no-open   (profiles both processes)
 *
 * 1. Opening the 2nd…100th WebSocket to one origin: h2 (one pooled session, a stream each) against
 *    HTTP/1.1 (a TCP and TLS handshake each). Time per open, sequential.
 * 2. Echo throughput with 1, 10 and 100 WebSockets: streams of one h2 session against as many HTTP/1.1
 *    TLS connections, 64 B to 64 KiB, each WebSocket doing ping-pong with 8 messages in flight.
 *
 * Built for a loaded, shared machine: every transport of a cell has its WebSockets open at once and they
 * take turns in short slices (h1, h2, h2, h1, …), so each sees the same load; each slice records msgs/s
 * and the CPU time of both processes per message, and the figures are medians over slices. The server
 * runs in a child process (by default) so that its CPU per message is measured apart from the client's,
 * and so that the client's cost cannot hide the server's: each side has its own event loop.
 */
import { execFileSync, fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as http2 from 'http2';
import * as https from 'https';
import type * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { connect, WebSocketServer, type WebSocket } from '../src';
import { median } from './lib/stats';

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const ONE_PROCESS = argv.includes('--one-process');
const AB = argv.includes('--ab');
const SERVER_WINDOW = argv.includes('--server-window');
const OPENS = 100;
const WINDOW = 8;
const SLICE_MS = QUICK ? 300 : 500;
const WARM_MS = 100;
const ROUNDS = Number(option('--rounds') ?? (QUICK ? 3 : 5));
const COUNTS = list('--counts') ?? (QUICK ? [1, 10] : [1, 10, 100]);
const SIZES = list('--sizes') ?? (QUICK ? [64, 1024] : [64, 1024, 16 * 1024, 64 * 1024]);

function option(name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function list(name: string): number[] | undefined {
  return option(name)?.split(',').map(Number);
}

function load(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function certificate(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflow-bench-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', path.join(dir, 'k'), '-out', path.join(dir, 'c'), '-days', '1'], { stdio: 'ignore' });
    return { key: fs.readFileSync(path.join(dir, 'k'), 'utf8'), cert: fs.readFileSync(path.join(dir, 'c'), 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function echo(ws: WebSocket): void {
  ws.on('message', (data: Buffer, type) => void ws.writeMessage(data, type).catch(() => undefined));
}

// ---- the server side: in this process, or in a child (`--serve`) that answers CPU readings over IPC

interface Urls {
  h1: string;
  h2: string;
  /** An h2 server whose sessions keep node's default 64 KiB connection window (wsflow leaves a set one as is). */
  h2node: string;
  /** An h2 server with a 1 MiB stream window (`settings.initialWindowSize`). */
  h2sw: string;
}

interface Servers {
  urls: Urls;
  /** The server side's CPU time so far (µs), or NaN when it shares this process. */
  cpu(): Promise<number>;
  close(): Promise<void>;
}

async function startServers(tlsMaterial: { key: string; cert: string }): Promise<{ urls: Urls; close(): Promise<void> }> {
  const h2 = http2.createSecureServer(tlsMaterial);
  const h2wss = new WebSocketServer({ http2: h2 }, echo);
  const h2node = http2.createSecureServer(tlsMaterial);
  // 65,536: one byte over node's default, which wsflow takes as the application's own choice and keeps.
  h2node.on('session', (s) => s.setLocalWindowSize(65_536));
  const h2nodeWss = new WebSocketServer({ http2: h2node }, echo);
  const h2sw = http2.createSecureServer({ ...tlsMaterial, settings: { initialWindowSize: 1024 * 1024 } });
  const h2swWss = new WebSocketServer({ http2: h2sw }, echo);
  const h1 = https.createServer(tlsMaterial);
  const h1wss = new WebSocketServer({ server: h1 }, echo);
  const listen = (s: net.Server): Promise<number> =>
    new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port)));
  const [p2, pn, ps, p1] = await Promise.all([listen(h2), listen(h2node), listen(h2sw), listen(h1)]);
  return {
    urls: { h2: `wss://127.0.0.1:${p2}/`, h2node: `wss://127.0.0.1:${pn}/`, h2sw: `wss://127.0.0.1:${ps}/`, h1: `wss://127.0.0.1:${p1}/` },
    close: async () => {
      await Promise.all([h2wss.close(), h2nodeWss.close(), h2swWss.close(), h1wss.close()]);
      h1.closeAllConnections();
      await Promise.all([h2, h2node, h2sw, h1].map((s) => new Promise((r) => s.close(r))));
    },
  };
}

type ToChild = { t: 'cpu' } | { t: 'close' };
type FromChild = { t: 'urls'; urls: Urls } | { t: 'cpu'; us: number } | { t: 'closed' };

/** The child's side: serve, answer CPU readings, close on request. */
async function serve(): Promise<void> {
  const servers = await startServers(JSON.parse(process.env.WSFLOW_BENCH_TLS as string) as { key: string; cert: string });
  const send = (m: FromChild, then?: () => void): boolean =>
    (process.send as (m: FromChild, h: undefined, o: object, cb?: () => void) => boolean)(m, undefined, {}, then);
  // Exiting by itself (not killed) lets --cpu-prof write this process's profile.
  const exit = (): void => void send({ t: 'closed' }, () => process.exit(0));
  process.on('message', (m: ToChild) => {
    if (m.t === 'cpu') send({ t: 'cpu', us: cpuMicros() });
    else servers.close().then(exit, exit);
  });
  send({ t: 'urls', urls: servers.urls });
}

async function startServerProcess(tlsMaterial: { key: string; cert: string }): Promise<Servers> {
  const child: ChildProcess = fork(__filename, ['--serve'], { env: { ...process.env, WSFLOW_BENCH_TLS: JSON.stringify(tlsMaterial) } });
  const next = (t: FromChild['t']): Promise<FromChild> =>
    new Promise((resolve) => {
      const on = (m: FromChild): void => {
        if (m.t !== t) return;
        child.removeListener('message', on);
        resolve(m);
      };
      child.on('message', on);
    });
  const first = (await next('urls')) as { t: 'urls'; urls: Urls };
  return {
    urls: first.urls,
    cpu: async () => {
      const reply = next('cpu');
      child.send({ t: 'cpu' } satisfies ToChild);
      return ((await reply) as { t: 'cpu'; us: number }).us;
    },
    close: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ t: 'close' } satisfies ToChild);
      await exited;
    },
  };
}

// ---- the client side

const TLS = { rejectUnauthorized: false };

interface Transport {
  name: string;
  url: keyof Urls;
  /** connect()'s http2 option: false, true (wsflow's pooled session), or a session of the bench's own. */
  http2(): boolean | http2.ClientHttp2Session;
}

/** A client session with node's defaults (64 KiB windows): what "h2 node" compares wsflow's own against. */
function nodeDefaultSession(url: string): { get(): http2.ClientHttp2Session; close(): void } {
  let session: http2.ClientHttp2Session | null = null;
  return {
    get: () => (session ??= http2.connect(url.replace('wss:', 'https:'), TLS)),
    close: () => session?.close(),
  };
}

/** Mean milliseconds per open of the 2nd..OPENS-th WebSocket, opened one after the other. */
async function timeOpens(url: string, http2Option: boolean): Promise<number> {
  const open: WebSocket[] = [await connect(url, { ...TLS, http2: http2Option })];
  const start = process.hrtime.bigint();
  for (let i = 1; i < OPENS; i++) open.push(await connect(url, { ...TLS, http2: http2Option }));
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / (OPENS - 1);
  await Promise.all(open.map((ws) => ws.close(1000)));
  return ms;
}

/** `count` WebSockets doing windowed ping-pong, started and stopped slice by slice. */
class EchoGroup {
  received = 0;
  /** Close codes of WebSockets that ended during the run (none, unless something broke). */
  readonly failures: number[] = [];
  private running = false;
  private inflight = 0;
  private idle: (() => void) | null = null;
  private readonly pumps: Array<() => void> = [];

  constructor(readonly sockets: WebSocket[], size: number) {
    const payload = Buffer.alloc(size, 0x61);
    for (const ws of sockets) {
      let mine = 0;
      const pump = (): void => {
        while (this.running && mine < WINDOW) {
          mine++;
          this.inflight++;
          void ws.writeMessage(payload).catch(() => undefined);
        }
      };
      ws.on('message', () => {
        mine--;
        this.inflight--;
        this.received++;
        pump();
        if (this.inflight === 0 && this.idle !== null) this.idle();
      });
      // A WebSocket that fails mid-run must not leave stop() waiting for its messages: count it instead.
      ws.on('close', (info: { code: number }) => {
        if (info.code !== 1000) this.failures.push(info.code);
        this.inflight -= mine;
        mine = WINDOW;
        if (this.inflight === 0 && this.idle !== null) this.idle();
      });
      this.pumps.push(pump);
    }
  }

  start(): void {
    this.running = true;
    for (const pump of this.pumps) pump();
  }

  /** Stops sending and resolves once every message in flight came back. */
  stop(): Promise<void> {
    this.running = false;
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle = () => {
        this.idle = null;
        resolve();
      };
    });
  }
}

interface Slice {
  rate: number;
  /** CPU µs per message, both processes (or the one). */
  cpu: number;
  /** Server-side CPU µs per message (NaN in one process). */
  server: number;
}

async function slice(group: EchoGroup, servers: Servers): Promise<Slice> {
  group.start();
  await new Promise((r) => setTimeout(r, WARM_MS));
  const r0 = group.received;
  const s0 = await servers.cpu();
  const c0 = cpuMicros();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, SLICE_MS));
  const n = group.received - r0;
  const s1 = await servers.cpu();
  const c1 = cpuMicros();
  const ns = Number(process.hrtime.bigint() - t0);
  await group.stop();
  const server = (s1 - s0) / n;
  return { rate: (n * 1e9) / ns, cpu: ONE_PROCESS ? (c1 - c0) / n : (c1 - c0) / n + server, server };
}

async function echoCell(
  servers: Servers,
  transports: Transport[],
  count: number,
  size: number,
): Promise<{ results: Slice[][]; failures: number[][] }> {
  const groups: EchoGroup[] = [];
  for (const t of transports) {
    const sockets: WebSocket[] = [];
    for (let i = 0; i < count; i++) sockets.push(await connect(servers.urls[t.url], { ...TLS, http2: t.http2() }));
    groups.push(new EchoGroup(sockets, size));
  }
  const results: Slice[][] = transports.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    // ABBA order: neither transport always follows the other.
    const order = round % 2 === 0 ? groups.map((_, i) => i) : groups.map((_, i) => groups.length - 1 - i);
    for (const i of order) results[i]!.push(await slice(groups[i]!, servers));
  }
  const failures = groups.map((g) => [...g.failures]);
  await Promise.all(groups.flatMap((g) => g.sockets.map((ws) => ws.close(1000).catch(() => undefined))));
  return { results, failures };
}

function fmt(n: number, digits = 0): string {
  return Number.isNaN(n) ? '-' : n.toFixed(digits);
}

async function main(): Promise<void> {
  const tlsMaterial = certificate();
  let servers: Servers;
  if (ONE_PROCESS) {
    const s = await startServers(tlsMaterial);
    servers = { urls: s.urls, cpu: () => Promise.resolve(NaN), close: s.close };
  } else {
    servers = await startServerProcess(tlsMaterial);
  }
  const transports: Transport[] = [
    { name: 'HTTP/1.1', url: 'h1', http2: () => false },
    { name: 'h2', url: 'h2', http2: () => true },
  ];
  let h2node: { get(): http2.ClientHttp2Session; close(): void } | null = null;
  try {
    const where = ONE_PROCESS ? 'client and server in one process' : 'server in a child process';
    console.log(`# wsflow over HTTP/2 vs HTTP/1.1 (TLS, loopback, ${where}); node ${process.version}; ${os.cpus().length} cpus; load ${load()}`);
    if (!argv.includes('--no-open')) {
      const h1Open = await timeOpens(servers.urls.h1, false);
      const h2Open = await timeOpens(servers.urls.h2, true);
      console.log(`\nopen the 2nd..${OPENS}th WebSocket: HTTP/1.1+TLS ${h1Open.toFixed(3)} ms, h2 stream ${h2Open.toFixed(3)} ms => h2 is ${(h1Open / h2Open).toFixed(2)}x faster`);
    }

    console.log(`\necho, ${WINDOW} messages in flight per WebSocket; medians of ${ROUNDS} interleaved ${SLICE_MS} ms slices per transport`);
    console.log('msgs/s (wall) | CPU µs per message, server + client (server alone)');
    const columns = ['HTTP/1.1', 'h2'];
    if (AB) columns.push('h2 node');
    if (SERVER_WINDOW) columns.push('h2 sw');
    console.log(`sockets   size  ${columns.map((c) => c.padStart(9)).join('')}   h2/1.1 |${columns.map((c) => c.padStart(17)).join('')}   1.1/h2 cpu  load`);
    if (AB) {
      h2node = nodeDefaultSession(servers.urls.h2node);
      transports.push({ name: 'h2 node', url: 'h2node', http2: h2node.get });
    }
    if (SERVER_WINDOW) transports.push({ name: 'h2 sw', url: 'h2sw', http2: () => true });
    const only = option('--only');
    if (only !== undefined) transports.splice(0, transports.length, ...transports.filter((t) => t.url === only));
    for (const count of COUNTS) {
      for (const size of SIZES) {
        const { results, failures } = await echoCell(servers, transports, count, size);
        for (let i = 0; i < transports.length; i++) {
          if (failures[i]!.length > 0) console.log(`  ${transports[i]!.name}: ${failures[i]!.length} WebSockets closed during the run (codes ${[...new Set(failures[i])].join(', ')})`);
        }
        if (only !== undefined) {
          const r = results[0]!;
          console.log(`${String(count).padStart(7)}  ${String(size).padStart(5)}  ${only}: ${fmt(median(r.map((x) => x.rate)))} msgs/s, ${fmt(median(r.map((x) => x.cpu)), 1)} µs/msg (${fmt(median(r.map((x) => x.server)), 1)} server)`);
          continue;
        }
        const rate = results.map((r) => median(r.map((s) => s.rate)));
        const cpu = results.map((r) => median(r.map((s) => s.cpu)));
        const server = results.map((r) => median(r.map((s) => s.server)));
        console.log(
          `${String(count).padStart(7)}  ${String(size).padStart(5)}  ${rate.map((r) => fmt(r).padStart(9)).join('')}   ${(rate[1]! / rate[0]!).toFixed(2)}x  |` +
            `${cpu.map((c, i) => `${fmt(c, 1)} (${fmt(server[i]!, 1)})`.padStart(17)).join('')}   ${(cpu[0]! / cpu[1]!).toFixed(2)}x  ${os.loadavg()[0]!.toFixed(1)}`,
        );
      }
    }
    console.log(`\nload after: ${load()}`);
  } finally {
    h2node?.close();
    await servers.close();
  }
}

if (argv.includes('--serve')) {
  serve().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
