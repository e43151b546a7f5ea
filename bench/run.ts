/**
 * The end-to-end benchmark: echo throughput, handshakes per second and idle memory per connection of
 * wsflow, ws (without and with bufferutil) and gorilla/websocket, each server on core 0, driven by a Go
 * load generator on core 1. Writes the `e2e` section of docs/benchmarks.md and docs/benchmarks-e2e.svg.
 *
 *   npm run bench                      full run (~20 min): 1, 100, 1,000 connections, 3 repetitions
 *   npm run bench -- --quick           < 2 min: 100 connections only, short windows
 *   npm run bench -- --reps 5 --duration 3000 --warmup 1000
 *   npm run bench -- --cells bin-64B-c100,handshake --impls wsflow,ws-bufferutil
 *   npm run bench -- --wsflow-api data      (event | await | data | pipe | event-retain: which wsflow API the `wsflow`
 *                                      server uses; `wsflow-await` always runs the README's `for await` idiom beside it;
 *                                      event-retain keeps each connection's last message, as a parked for-await does)
 *   npm run bench -- --impls wsflow,wsflow-await,ws,floor   (floor: the raw `net` echo server, bench/e2e/servers/floor-echo.ts)
 *   npm run bench -- --no-docs          print only, leave docs/ alone
 *   npm run bench -- --render FILE      rewrite docs from a saved results file (.bench-tmp/e2e/*.json)
 *   npm run bench -- --profile bin-64B-c100 [--duration 5000]
 *                                      run one cell against wsflow under --cpu-prof and print where the time goes
 *   npm run bench -- --profile bin-64B-c100 --profile-impl floor   (the same for another Node server: any but gorilla)
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { commandOutput, gorillaVersion, machineInfo, packageVersion, repoRoot } from './lib/machine';
import { writeMarkdownSection } from './lib/markdown';
import { allCells, cellLabel, IMPLS, servesCell, MAX_INFLIGHT_BYTES, serverSpec, WRITE_BATCH_MAX, type Cell, type EchoCell, type ImplId } from './e2e/cells';
import { renderChart } from './e2e/chart';
import { openIdle, runLoadgen, ServerProcess, type LoadgenResult } from './e2e/processes';
import { analyzeProfile } from './e2e/profile';
import { chartSpec, loadResults, markdownSection, Summary, textReport, type ResultsFile, type RunRecord } from './e2e/report';

const ROOT = repoRoot();
const BUILD_DIR = path.join(ROOT, 'bench', '.build');
const TMP_DIR = path.join(ROOT, '.bench-tmp', 'e2e');
const DOC_FILE = path.join(ROOT, 'docs', 'benchmarks.md');
const CHART_NAME = 'benchmarks-e2e.svg';
const LOADGEN = path.join(BUILD_DIR, 'loadgen');
const DOC_INTRO = `# Benchmarks

Measured results of the scripts in \`bench/\`. Each script rewrites only its own section, between its
\`<!-- name:start -->\` and \`<!-- name:end -->\` markers; text outside the markers is kept.
The machines are shared and noisy, so absolute rates move from run to run: read the ratios, which
are computed pair by pair from measurements taken back to back.`;

// ---- arguments -------------------------------------------------------------------------------------

interface Options {
  quick: boolean;
  reps: number;
  memoryReps: number;
  warmupMs: number;
  durationMs: number;
  cells: string[] | null;
  impls: ImplId[];
  wsflowApi: string;
  docs: boolean;
  render: string | null;
  profile: string | null;
  profileImpl: ImplId;
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
  const known = ['quick', 'reps', 'memory-reps', 'warmup', 'duration', 'cells', 'impls', 'wsflow-api', 'no-docs', 'render', 'profile', 'profile-impl'];
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k} (known: ${known.join(', ')})`);
  const quick = flags.has('quick');
  const int = (name: string, dflt: number): number => {
    const v = flags.get(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} takes a positive integer`);
    return n;
  };
  const reps = int('reps', 3);
  const impls = (flags.get('impls')?.split(',') ?? [...IMPLS]) as ImplId[];
  for (const i of impls) if (!IMPLS.includes(i)) throw new Error(`unknown implementation ${i} (known: ${IMPLS.join(', ')})`);
  if (!impls.includes('wsflow')) impls.unshift('wsflow');
  const api = flags.get('wsflow-api') ?? 'event';
  if (!['event', 'await', 'data', 'pipe', 'event-retain'].includes(api)) throw new Error('--wsflow-api takes event, await, data, pipe or event-retain');
  return {
    quick,
    reps,
    memoryReps: int('memory-reps', quick ? 1 : reps),
    warmupMs: int('warmup', quick ? 300 : 1000),
    durationMs: int('duration', quick ? 700 : 4000),
    cells: flags.get('cells')?.split(',') ?? null,
    impls,
    wsflowApi: api,
    docs: !flags.has('no-docs'),
    render: flags.get('render') ?? null,
    profile: flags.get('profile') ?? null,
    profileImpl: (flags.get('profile-impl') ?? 'wsflow') as ImplId,
  };
}

// ---- setup -----------------------------------------------------------------------------------------

function buildGo(): void {
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const env = { ...process.env, GO111MODULE: 'off', GOPATH: process.env.GOPATH ?? '/usr/share/gocode' };
  for (const name of ['loadgen', 'gorilla-echo']) {
    execFileSync('go', ['build', '-o', path.join(BUILD_DIR, name), `./bench/e2e/${name}`], { cwd: ROOT, env, stdio: 'inherit' });
  }
}

function versions(): Record<string, string> {
  const gorilla = gorillaVersion();
  return {
    node: process.version,
    ws: packageVersion('ws'),
    bufferutil: packageVersion('bufferutil'),
    go: commandOutput('go', ['version']).replace(/^go version /, ''),
    'gorilla/websocket': `${gorilla} (Debian golang-github-gorilla-websocket-dev)`,
    wsflow: (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version + ' (working tree)',
  };
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function fmtRate(v: unknown): string {
  return typeof v === 'number' ? (v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(0)) : '?';
}

// ---- one measurement -------------------------------------------------------------------------------

function echoArgs(cell: EchoCell, server: ServerProcess, o: Options): string[] {
  return [
    '-mode', 'echo',
    '-url', server.url,
    '-pid', String(server.pid),
    '-conns', String(cell.conns),
    '-inflight', String(cell.inflight),
    '-size', String(cell.size),
    '-kind', cell.payload,
    `-compress=${cell.compress}`,
    '-max-inflight-bytes', String(MAX_INFLIGHT_BYTES),
    '-batch-max', String(cell.writeBatching ? WRITE_BATCH_MAX : 0),
    '-srcs', '4',
    '-warmup', `${o.warmupMs}ms`,
    '-duration', `${o.durationMs}ms`,
  ];
}

async function measureLoad(cell: Cell, impl: ImplId, rep: number, server: ServerProcess, o: Options): Promise<RunRecord> {
  const args =
    cell.type === 'echo'
      ? echoArgs(cell, server, o)
      : [
          '-mode', 'handshake',
          '-url', server.url,
          '-pid', String(server.pid),
          '-concurrency', String(cell.type === 'handshake' ? cell.concurrency : 16),
          '-srcs', '16',
          '-warmup', `${o.warmupMs}ms`,
          '-duration', `${o.durationMs}ms`,
        ];
  const record: RunRecord = { cell: cell.id, impl, rep, ok: false };
  try {
    const result: LoadgenResult = await runLoadgen(LOADGEN, args, o.warmupMs + o.durationMs + 60_000);
    record.result = result;
    record.ok = result.errors === 0;
    if (!record.ok) record.error = (result.errorSamples ?? []).join(' | ');
  } catch (err) {
    record.error = (err as Error).message;
  }
  return record;
}

async function measureMemory(cell: Extract<Cell, { type: 'memory' }>, impl: ImplId, rep: number, o: Options): Promise<RunRecord> {
  const record: RunRecord = { cell: cell.id, impl, rep, ok: false };
  const server = await new ServerProcess(impl, serverSpec(impl, { root: ROOT, buildDir: BUILD_DIR, compress: false, wsflowApi: o.wsflowApi })).ready();
  try {
    const base = await server.memory();
    const idle = await openIdle(LOADGEN, ['-url', server.url, '-conns', String(cell.conns), '-srcs', '4', '-dial-concurrency', '32'], 180_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const loaded = await server.memory();
    const result = await idle.finish();
    record.result = result;
    record.memory = { base, loaded, opened: idle.opened };
    record.ok = result.errors === 0 && idle.opened === cell.conns;
    if (!record.ok) record.error = `opened ${idle.opened}: ${(result.errorSamples ?? []).join(' | ')}`;
  } catch (err) {
    record.error = (err as Error).message;
  } finally {
    await server.stop();
  }
  return record;
}

function logRun(r: RunRecord): void {
  const res: Record<string, unknown> = r.result ?? {};
  let what: string;
  if (r.memory !== undefined) {
    const per = (k: 'rss' | 'heapUsed'): string => {
      const a = r.memory?.base[k];
      const b = r.memory?.loaded[k];
      return typeof a === 'number' && typeof b === 'number' ? `${((b - a) / r.memory!.opened / 1024).toFixed(1)} KiB` : '–';
    };
    what = `RSS/conn ${per('rss')}, heap/conn ${per('heapUsed')}`;
  } else if (typeof res.handshakesPerSec === 'number') {
    what = `${fmtRate(res.handshakesPerSec)} handshakes/s, server CPU ${Math.round(Number(res.serverCpu) * 100)}%`;
  } else {
    what = `${fmtRate(res.msgsPerSec)} msgs/s, server CPU ${Math.round(Number(res.serverCpu) * 100)}%, loadgen CPU ${Math.round(Number(res.loadgenCpu) * 100)}%`;
  }
  console.log(`  ${r.impl.padEnd(13)} ${r.ok ? what : `FAILED: ${r.error ?? ''}`}`);
}

// ---- the run ----------------------------------------------------------------------------------------

async function runAll(o: Options): Promise<ResultsFile> {
  const started = Date.now();
  const loadAverage = os.loadavg();
  let cells = allCells(o.quick);
  if (o.cells !== null) {
    const pool = [...allCells(false), ...allCells(true)];
    cells = o.cells.map((id) => {
      const c = pool.find((x) => x.id === id);
      if (c === undefined) throw new Error(`unknown cell ${id} (known: ${[...new Set(pool.map((x) => x.id))].join(', ')})`);
      return c;
    });
  }
  const runs: RunRecord[] = [];
  const loadCells = cells.filter((c) => c.type !== 'memory');
  const memoryCell = cells.find((c): c is Extract<Cell, { type: 'memory' }> => c.type === 'memory');
  const serverOpts = (compress: boolean): Parameters<typeof serverSpec>[1] => ({ root: ROOT, buildDir: BUILD_DIR, compress, wsflowApi: o.wsflowApi });

  for (let rep = 0; rep < o.reps; rep++) {
    const order = rotate(o.impls, rep);
    // Fresh servers each repetition: one plain set, one with compression (only for compressed cells).
    for (const compress of [false, true]) {
      const group = loadCells.filter((c) => (c.type === 'echo' ? c.compress : false) === compress);
      if (group.length === 0) continue;
      const servers = new Map<ImplId, ServerProcess>();
      const serving = order.filter((impl) => group.some((c) => servesCell(impl, c)));
      try {
        for (const impl of serving) servers.set(impl, await new ServerProcess(impl, serverSpec(impl, serverOpts(compress))).ready());
        for (const cell of group) {
          console.log(`rep ${rep + 1}/${o.reps} · ${cellLabel(cell)}`);
          for (const impl of serving) {
            if (!servesCell(impl, cell)) continue;
            const r = await measureLoad(cell, impl, rep, servers.get(impl) as ServerProcess, o);
            runs.push(r);
            logRun(r);
          }
        }
      } finally {
        await Promise.all([...servers.values()].map((s) => s.stop()));
      }
    }
    if (memoryCell !== undefined && rep < o.memoryReps) {
      console.log(`rep ${rep + 1}/${o.memoryReps} · ${cellLabel(memoryCell)}`);
      for (const impl of order) {
        if (!servesCell(impl, memoryCell)) continue;
        const r = await measureMemory(memoryCell, impl, rep, o);
        runs.push(r);
        logRun(r);
      }
    }
  }

  return {
    meta: {
      machine: machineInfo(),
      versions: versions(),
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      quick: o.quick,
      reps: o.reps,
      memoryReps: memoryCell !== undefined ? Math.min(o.reps, o.memoryReps) : 0,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
      wsflowApi: o.wsflowApi,
      elapsedSeconds: (Date.now() - started) / 1000,
      loadAverage,
      nofile: commandOutput('bash', ['-c', 'ulimit -Hn']),
    },
    cells,
    runs,
  };
}

function publish(data: ResultsFile, o: Options): void {
  const summary = new Summary(data);
  console.log(`\n${textReport(summary)}\n`);
  if (!o.docs) return;
  fs.mkdirSync(path.dirname(DOC_FILE), { recursive: true });
  fs.writeFileSync(path.join(path.dirname(DOC_FILE), CHART_NAME), renderChart(chartSpec(data)));
  writeMarkdownSection(DOC_FILE, 'e2e', markdownSection(summary, CHART_NAME), DOC_INTRO);
  console.log(`wrote ${path.relative(ROOT, DOC_FILE)} (section e2e) and docs/${CHART_NAME}`);
}

// ---- profiling ----------------------------------------------------------------------------------------

async function profile(cellId: string, o: Options): Promise<void> {
  const cell = [...allCells(false), ...allCells(true)].find((c) => c.id === cellId);
  if (cell === undefined || cell.type === 'memory') throw new Error(`--profile takes an echo cell or handshake, not ${cellId}`);
  const dir = path.join(TMP_DIR, 'prof');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const compress = cell.type === 'echo' && cell.compress;
  const impl = o.profileImpl;
  if (!IMPLS.includes(impl) || impl === 'gorilla') throw new Error(`--profile-impl takes a Node server, not ${impl}`);
  const server = await new ServerProcess(
    impl,
    serverSpec(impl, { root: ROOT, buildDir: BUILD_DIR, compress, wsflowApi: o.wsflowApi, nodeFlags: ['--cpu-prof', '--cpu-prof-dir', dir] }),
  ).ready();
  console.log(`profiling ${impl} (--wsflow-api ${o.wsflowApi}) on ${cellLabel(cell)} for ${o.warmupMs + o.durationMs} ms`);
  const r = await measureLoad(cell, impl, 0, server, o);
  logRun(r);
  await server.stop(30_000);
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error('no .cpuprofile written');
  console.log(`\n${analyzeProfile(path.join(dir, file), ROOT)}`);
  console.log(`\nprofile: ${path.relative(ROOT, path.join(dir, file))} (open in Chrome DevTools › Performance)`);
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o.render !== null) {
    publish(loadResults(o.render), o);
    return;
  }
  buildGo();
  if (o.profile !== null) {
    await profile(o.profile, { ...o, durationMs: o.durationMs, warmupMs: o.warmupMs });
    return;
  }
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
