/**
 * The fan-out benchmark (issues 14 and 15): one message to many subscribers, wsflow's `Hub` against ws
 * (the README loop over `wss.clients`), gorilla (its chat hub with `PreparedMessage`) and, across two
 * processes and Redis, ws with a hand-written relay and socket.io with its Redis adapter. Servers on
 * core 0, the Go subscriber load generator (bench/fanout/subgen) on core 1. Writes the `fanout` section
 * of docs/benchmarks.md and docs/benchmarks-fanout.svg.
 *
 *   npm run bench:fanout                   full run (a few minutes): 2 repetitions
 *   npm run bench:fanout -- --quick        1 repetition, short windows, no 10,000-subscriber deflate cell
 *   npm run bench:fanout -- --cells bin-1KiB-c1000,memory --reps 1 --duration 2000 --warmup 500
 *   npm run bench:fanout -- --no-docs      print only, leave docs/ alone
 *   npm run bench:fanout -- --render FILE  rewrite the docs from a saved results file (.bench-tmp/fanout/*.json)
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { commandOutput, gorillaVersion, machineInfo, packageVersion, repoRoot } from '../lib/machine';
import { writeMarkdownSection } from '../lib/markdown';
import { renderChart } from '../e2e/chart';
import { openIdle, runLoadgen, ServerProcess, SERVER_CORE, type LoadgenResult } from '../e2e/processes';
import {
  allCells,
  cellLabel,
  localServerSpec,
  redisServerSpec,
  windowFor,
  LONG_RUN_CONNS,
  wsflowServerBuilt,
  type Cell,
  type ImplId,
  type LocalImpl,
  type RedisImpl,
  type ServerOptions,
} from './cells';
import { payloadFile, type PayloadSpec } from './payload';
import { RedisServer } from './redis';
import { chartSpec, loadResults, markdownSection, textReport, type FanRun, type ResultsFile } from './report';

const ROOT = repoRoot();
const BUILD_DIR = path.join(ROOT, 'bench', '.build');
const TMP_DIR = path.join(ROOT, '.bench-tmp', 'fanout');
const DOC_FILE = path.join(ROOT, 'docs', 'benchmarks.md');
const CHART_NAME = 'benchmarks-fanout.svg';
const SUBGEN = path.join(BUILD_DIR, 'fanout-subgen');
const DOC_INTRO = '# Benchmarks\n\nMeasured results of the scripts in `bench/`.';

interface Options {
  quick: boolean;
  reps: number;
  warmupMs: number;
  durationMs: number;
  cells: string[] | null;
  docs: boolean;
  render: string | null;
}

function parseOptions(argv: readonly string[]): Options {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      flags.set(a.slice(2), next);
      i++;
    } else flags.set(a.slice(2), 'true');
  }
  const known = ['quick', 'reps', 'warmup', 'duration', 'cells', 'no-docs', 'render'];
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k} (known: ${known.join(', ')})`);
  const quick = flags.has('quick');
  const int = (name: string, dflt: number): number => {
    const v = flags.get(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} takes a positive integer`);
    return n;
  };
  return {
    quick,
    reps: int('reps', quick ? 1 : 2),
    warmupMs: int('warmup', quick ? 700 : 1500),
    durationMs: int('duration', quick ? 1500 : 3000),
    cells: flags.get('cells')?.split(',') ?? null,
    docs: !flags.has('no-docs'),
    render: flags.get('render') ?? null,
  };
}

function buildGo(): void {
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const env = { ...process.env, GO111MODULE: 'off', GOPATH: process.env.GOPATH ?? '/usr/share/gocode' };
  for (const [name, dir] of [
    ['fanout-subgen', 'subgen'],
    ['fanout-gorilla', 'gorilla-fanout'],
  ]) {
    execFileSync('go', ['build', '-o', path.join(BUILD_DIR, name), `./bench/fanout/${dir}`], { cwd: ROOT, env, stdio: 'inherit' });
  }
}

function versions(): Record<string, string> {
  const gorilla = gorillaVersion();
  return {
    node: process.version,
    ws: packageVersion('ws'),
    'socket.io': packageVersion('socket.io'),
    '@socket.io/redis-adapter': packageVersion('@socket.io/redis-adapter'),
    redis: packageVersion('redis'),
    'redis-server': commandOutput('redis-server', ['--version']).replace(/^Redis server /, '').split(' ')[0] ?? 'unknown',
    go: commandOutput('go', ['version']).replace(/^go version /, ''),
    'gorilla/websocket': gorilla,
    wsflow: (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version + ' (working tree)',
  };
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function fmt(v: unknown, digits = 0): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '?';
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(digits);
}

function logRun(r: FanRun): void {
  const res: Record<string, unknown> = r.result ?? {};
  let what: string;
  if (r.memory !== undefined) {
    const m = r.memory;
    const subs = m.subscriptions > 0 ? m.subscriptions : 1;
    what = `per conn: RSS ${fmt((m.conns.rss - m.base.rss) / m.opened)} B, heap ${fmt(((m.conns.heapUsed ?? NaN) - (m.base.heapUsed ?? NaN)) / m.opened)} B; per subscription: heap ${fmt(((m.subscribed.heapUsed ?? NaN) - (m.conns.heapUsed ?? NaN)) / subs)} B, RSS ${fmt((m.subscribed.rss - m.conns.rss) / subs)} B`;
  } else {
    what =
      `${fmt(res.deliveriesPerSec)} deliveries/s (${fmt(res.publishesPerSec, 1)} publishes/s), server CPU ${Math.round(Number(res.serverCpu) * 100)}%` +
      `${typeof res.otherCpu === 'number' && res.otherCpu > 0 ? ` + ${Math.round(res.otherCpu * 100)}%` : ''}, subgen CPU ${Math.round(Number(res.loadgenCpu) * 100)}%, p50 ${fmt(Number(res.p50us) / 1000, 2)} ms, p99 ${fmt(Number(res.p99us) / 1000, 2)} ms`;
  }
  console.log(`  ${r.impl.padEnd(12)} ${r.ok ? what : `FAILED: ${r.error ?? ''}`}${r.note !== undefined ? ` (${r.note})` : ''}`);
}

function subArgs(payload: PayloadSpec, conns: number, o: Options, extra: string[]): string[] {
  const scale = conns >= LONG_RUN_CONNS ? 2 : 1;
  return [
    '-mode', 'sub',
    '-conns', String(conns),
    '-payload', payload.file,
    '-kind', payload.type,
    '-stamp-at', String(payload.stampAt),
    '-warmup', `${o.warmupMs * scale}ms`,
    '-duration', `${o.durationMs * scale}ms`,
    '-srcs', '8',
    ...extra,
  ];
}

function settle(r: FanRun, result: LoadgenResult): void {
  r.result = result;
  r.ok = result.errors === 0;
  if (!r.ok) r.error = (result.errorSamples ?? []).join(' | ');
}

/** One in-process run: a fresh server, its subscribers, the publisher paced by them. */
async function measureLocal(
  cell: Cell & { size: number; conns: number },
  impl: LocalImpl,
  rep: number,
  o: Options,
  x: { payload: PayloadSpec; compress: boolean; rate: number; slow: number; runImpl: ImplId; backpressureLimit?: number },
): Promise<FanRun> {
  const r: FanRun = { cell: cell.id, impl: x.runImpl, rep, ok: false, window: windowFor(cell.size, cell.conns), rate: x.rate };
  const so: ServerOptions = {
    root: ROOT,
    buildDir: BUILD_DIR,
    payload: x.payload,
    window: r.window ?? 8,
    rate: x.rate,
    compress: x.compress,
    backpressureLimit: x.backpressureLimit,
    trackBuffered: x.backpressureLimit !== undefined,
  };
  let server: ServerProcess | null = null;
  try {
    server = await new ServerProcess(impl, localServerSpec(impl, so)).ready();
    const controlPort = Number(server.info.controlPort);
    if (typeof server.info.backpressureLimit === 'number') r.backpressureLimit = server.info.backpressureLimit;
    const extra = ['-urls', server.url, '-control', `127.0.0.1:${controlPort}`, '-pids', String(server.pid)];
    if (x.compress) extra.push('-compress');
    if (x.slow > 0) extra.push('-slow', String(x.slow));
    // The slow-consumer cell warms up long enough for the never-reading subscriber to reach the limit.
    const oo = x.backpressureLimit !== undefined ? { ...o, warmupMs: Math.max(o.warmupMs, 3000) } : o;
    settle(r, await runLoadgen(SUBGEN, subArgs(x.payload, cell.conns + x.slow, oo, extra), 2 * (oo.warmupMs + oo.durationMs) + 180_000));
    if (impl === 'wsflow' && r.ok) {
      r.dropped = Number(await server.command('dropped', 'DROPPED'));
      if (x.backpressureLimit !== undefined) r.maxBuffered = Number(await server.command('maxbuf', 'MAXBUF'));
    }
  } catch (err) {
    r.error = (err as Error).message;
  } finally {
    await server?.stop();
  }
  return r;
}

async function measureMemory(cell: Extract<Cell, { type: 'memory' }>, impl: 'wsflow' | 'ws', rep: number): Promise<FanRun> {
  const r: FanRun = { cell: cell.id, impl, rep, ok: false };
  const so: ServerOptions = { root: ROOT, buildDir: BUILD_DIR, payload: null, window: 0, rate: 0, compress: false };
  let server: ServerProcess | null = null;
  try {
    server = await new ServerProcess(impl, localServerSpec(impl, so)).ready();
    const base = await server.memory();
    const idle = await openIdle(SUBGEN, ['-urls', server.url, '-conns', String(cell.conns), '-srcs', '8', '-dial-concurrency', '32'], 180_000);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const conns = await server.memory();
      const subscriptions = Number(await server.command(`sub ${cell.topics}`, 'SUB'));
      const subscribed = await server.memory();
      r.memory = { base, conns, subscribed, opened: idle.opened, subscriptions };
    } finally {
      const result = await idle.finish();
      r.result = result;
      r.ok = result.errors === 0 && idle.opened === cell.conns && r.memory !== undefined && r.memory.subscriptions === cell.conns * cell.topics;
      if (!r.ok) r.error = `opened ${idle.opened}, ${r.memory?.subscriptions ?? 0} subscriptions: ${(result.errorSamples ?? []).join(' | ')}`;
    }
  } catch (err) {
    r.error = (err as Error).message;
  } finally {
    await server?.stop();
  }
  return r;
}

/** One cross-process run: a fresh redis-server, two servers, one publisher, the subscribers split. */
async function measureRedis(cell: Extract<Cell, { type: 'redis' }>, impl: RedisImpl, rep: number, o: Options, payload: PayloadSpec): Promise<FanRun> {
  const r: FanRun = { cell: cell.id, impl, rep, ok: false, window: windowFor(cell.size, cell.conns), rate: 0 };
  const so: ServerOptions = { root: ROOT, buildDir: BUILD_DIR, payload, window: r.window ?? 8, rate: 0, compress: false };
  let redis: RedisServer | null = null;
  const procs: ServerProcess[] = [];
  try {
    redis = await RedisServer.start(SERVER_CORE);
    for (let i = 0; i < 2; i++) procs.push(await new ServerProcess(`${impl}-${i}`, redisServerSpec(impl, redis.url, false, so)).ready());
    const publisher = await new ServerProcess(`${impl}-publisher`, redisServerSpec(impl, redis.url, true, so)).ready();
    procs.push(publisher);
    const extra = [
      '-urls', procs.slice(0, 2).map((p) => p.url).join(','),
      '-control', `127.0.0.1:${Number(publisher.info.controlPort)}`,
      '-pids', procs.slice(0, 2).map((p) => p.pid).join(','),
      '-extra-pids', `${publisher.pid},${redis.pid}`,
    ];
    if (impl === 'socket.io') extra.push('-proto', 'sio');
    // A hub subscribes its broker channel when the first local subscriber arrives, so the first
    // publishes may precede it: order is still checked, missing messages at the start are not errors.
    if (impl === 'wsflow') extra.push('-allow-gaps');
    settle(r, await runLoadgen(SUBGEN, subArgs(payload, cell.conns, o, extra), 2 * (o.warmupMs + o.durationMs) + 180_000));
  } catch (err) {
    r.error = (err as Error).message;
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await redis?.stop();
  }
  return r;
}

async function runAll(o: Options): Promise<ResultsFile> {
  const started = Date.now();
  const uptime = commandOutput('uptime', []);
  const pool = allCells(false).concat(allCells(true));
  let cells = allCells(o.quick);
  if (o.cells !== null) {
    cells = o.cells.map((id) => {
      const c = pool.find((x) => x.id === id);
      if (c === undefined) throw new Error(`unknown cell ${id} (known: ${[...new Set(pool.map((x) => x.id))].join(', ')})`);
      return c;
    });
  }
  const haveLocal = wsflowServerBuilt(ROOT, 'local');
  const haveRedis = wsflowServerBuilt(ROOT, 'redis');
  const notes: string[] = [];
  if (!haveLocal) notes.push('the wsflow Hub server was not built (Hub not on this branch yet): wsflow left out of the in-process cells');
  if (!haveRedis) notes.push('the wsflow RedisBroker server was not built (RedisBroker not on this branch yet): wsflow left out of the Redis cell');
  for (const n of notes) console.log(`note: ${n}`);
  const runs: FanRun[] = [];
  const keep = (impl: string, redisCell: boolean): boolean => impl !== 'wsflow' && impl !== 'wsflow-slow' ? true : redisCell ? haveRedis : haveLocal;

  for (let rep = 0; rep < o.reps; rep++) {
    for (const cell of cells) {
      console.log(`rep ${rep + 1}/${o.reps} · ${cellLabel(cell)}`);
      const order = rotate(cell.impls as string[], rep).filter((i) => keep(i, cell.type === 'redis'));
      for (const impl of order) {
        let r: FanRun;
        switch (cell.type) {
          case 'throughput': {
            const payload = payloadFile(TMP_DIR, cell.payload, cell.size);
            r = await measureLocal(cell, impl as LocalImpl, rep, o, { payload, compress: cell.compress, rate: 0, slow: 0, runImpl: impl as ImplId });
            break;
          }
          case 'latency': {
            // Half the rate of the slowest implementation in the throughput cell of this repetition.
            const rates = runs.filter((x) => x.cell === cell.of && x.rep === rep && x.ok).map((x) => Number(x.result?.publishesPerSec));
            const rate = rates.length > 0 ? Math.max(1, Math.floor(Math.min(...rates) / 2)) : 10;
            const payload = payloadFile(TMP_DIR, cell.payload, cell.size);
            r = await measureLocal(cell, impl as LocalImpl, rep, o, { payload, compress: false, rate, slow: 0, runImpl: impl as ImplId });
            break;
          }
          case 'slow': {
            const payload = payloadFile(TMP_DIR, cell.payload, cell.size);
            const slow = impl === 'wsflow-slow' ? 1 : 0;
            r = await measureLocal(cell, 'wsflow', rep, o, { payload, compress: false, rate: 0, slow, runImpl: impl as ImplId, backpressureLimit: cell.backpressureLimit });
            break;
          }
          case 'memory':
            r = await measureMemory(cell, impl as 'wsflow' | 'ws', rep);
            break;
          case 'redis':
            r = await measureRedis(cell, impl as RedisImpl, rep, o, payloadFile(TMP_DIR, cell.payload, cell.size));
            break;
        }
        runs.push(r);
        logRun(r);
      }
    }
  }
  return {
    meta: {
      machine: machineInfo(),
      versions: versions(),
      command: `npm run bench:fanout${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      quick: o.quick,
      reps: o.reps,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
      elapsedSeconds: (Date.now() - started) / 1000,
      loadAverage: os.loadavg(),
      uptimeAtStart: uptime,
      uptimeAtEnd: commandOutput('uptime', []),
      notes,
    },
    cells,
    runs,
  };
}

function publish(data: ResultsFile, o: Options): void {
  console.log(`\n${textReport(data)}\n`);
  if (!o.docs) return;
  fs.writeFileSync(path.join(path.dirname(DOC_FILE), CHART_NAME), renderChart(chartSpec(data)));
  writeMarkdownSection(DOC_FILE, 'fanout', markdownSection(data, CHART_NAME), DOC_INTRO);
  console.log(`wrote ${path.relative(ROOT, DOC_FILE)} (section fanout) and docs/${CHART_NAME}`);
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o.render !== null) {
    publish(loadResults(o.render), o);
    return;
  }
  buildGo();
  const data = await runAll(o);
  fs.mkdirSync(TMP_DIR, { recursive: true });
  const file = path.join(TMP_DIR, `results-${data.meta.machine.date.replace(/[:]/g, '')}${o.quick ? '-quick' : ''}.json`);
  fs.writeFileSync(file, JSON.stringify(data, null, 1));
  console.log(`\nraw results: ${path.relative(ROOT, file)} (re-render with --render)`);
  publish(data, o);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
