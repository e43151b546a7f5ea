// Summaries of the fan-out runs: medians, pair-by-pair ratios, the targets of issues 14 and 15, the
// Markdown section, the terminal report and the chart.
import * as fs from 'fs';
import type { MachineInfo } from '../lib/machine';
import { max, median, min, pairwiseRatios } from '../lib/stats';
import { formatCount, formatRatio, renderMarkdownTable, renderTextTable, type Column } from '../lib/table';
import type { ChartSpec } from '../e2e/chart';
import type { LoadgenResult, MemoryReport } from '../e2e/processes';
import { IMPL_LABELS, cellLabel, sizeLabel, type Cell, type ImplId } from './cells';

export interface FanRun {
  cell: string;
  impl: ImplId;
  rep: number;
  ok: boolean;
  error?: string;
  note?: string;
  window?: number;
  rate?: number;
  /** Publishes the wsflow hub did not queue to a subscriber over its backpressure limit. */
  dropped?: number;
  /** The largest bufferedAmount of any connection, sampled every 50 ms (slow-consumer cell). */
  maxBuffered?: number;
  /** The wsflow server's backpressure limit in bytes, as it reported it. */
  backpressureLimit?: number;
  result?: LoadgenResult;
  memory?: { base: MemoryReport; conns: MemoryReport; subscribed: MemoryReport; opened: number; subscriptions: number };
}

export interface ResultsFile {
  meta: {
    machine: MachineInfo;
    versions: Record<string, string>;
    command: string;
    quick: boolean;
    reps: number;
    warmupMs: number;
    durationMs: number;
    elapsedSeconds: number;
    loadAverage: number[];
    uptimeAtStart: string;
    uptimeAtEnd: string;
    notes: string[];
  };
  cells: Cell[];
  runs: FanRun[];
}

export function loadResults(file: string): ResultsFile {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ResultsFile;
}

export type Metric =
  | 'deliveriesPerSec'
  | 'publishesPerSec'
  | 'perCore'
  | 'perCoreAll'
  | 'p50us'
  | 'p99us'
  | 'serverCpu'
  | 'loadgenCpu'
  | 'rssGrowth'
  | 'rssPerConn'
  | 'heapPerConn'
  | 'rssPerSub'
  | 'heapPerSub';

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : NaN;
}

function first(v: unknown): number {
  return Array.isArray(v) && typeof v[0] === 'number' ? (v[0] as number) : NaN;
}

/** One metric of one run (NaN when the run failed or does not have it). */
export function metricOf(run: FanRun, metric: Metric): number {
  if (!run.ok) return NaN;
  const m = run.memory;
  if (m !== undefined) {
    const d = (a: number | undefined, b: number | undefined, n: number): number => (typeof a === 'number' && typeof b === 'number' && n > 0 ? (b - a) / n : NaN);
    switch (metric) {
      case 'rssPerConn':
        return d(m.base.rss, m.conns.rss, m.opened);
      case 'heapPerConn':
        return d(m.base.heapUsed, m.conns.heapUsed, m.opened);
      case 'rssPerSub':
        return d(m.conns.rss, m.subscribed.rss, m.subscriptions);
      case 'heapPerSub':
        return d(m.conns.heapUsed, m.subscribed.heapUsed, m.subscriptions);
      default:
        return NaN;
    }
  }
  const r = run.result;
  if (r === undefined) return NaN;
  switch (metric) {
    case 'perCore': {
      const cpu = num(r.serverCpu);
      return cpu > 0.005 ? num(r.deliveriesPerSec) / Math.min(cpu, 1) : NaN;
    }
    case 'perCoreAll': {
      const cpu = num(r.serverCpu) + (num(r.otherCpu) || 0);
      return cpu > 0.005 ? num(r.deliveriesPerSec) / cpu : NaN;
    }
    case 'rssGrowth':
      return first(r.serverRssWindowEnd) - first(r.serverRssBefore);
    default:
      return num(r[metric]);
  }
}

export function series(data: ResultsFile, cell: string, impl: ImplId, metric: Metric): number[] {
  const reps = Math.max(0, ...data.runs.map((r) => r.rep + 1));
  const out = new Array<number>(reps).fill(NaN);
  for (const run of data.runs) if (run.cell === cell && run.impl === impl) out[run.rep] = metricOf(run, metric);
  return out;
}

export function med(data: ResultsFile, cell: string, impl: ImplId, metric: Metric): number {
  return median(series(data, cell, impl, metric));
}

/** a ÷ b repetition by repetition (or b ÷ a with `invert`, for lower-is-better metrics): median, min, max. */
export function ratio(data: ResultsFile, cell: string, a: ImplId, b: ImplId, metric: Metric, invert = false): { median: number; min: number; max: number; n: number } {
  const sa = series(data, cell, a, metric);
  const sb = series(data, cell, b, metric);
  const r = (invert ? pairwiseRatios(sb, sa) : pairwiseRatios(sa, sb)).filter((v) => Number.isFinite(v));
  return { median: median(r), min: min(r), max: max(r), n: r.length };
}

function ratioText(r: { median: number; min: number; max: number; n: number }): string {
  if (!Number.isFinite(r.median)) return '–';
  return r.n < 2 ? formatRatio(r.median) : `${formatRatio(r.median)} (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
}

function ms(us: number): string {
  if (!Number.isFinite(us)) return '–';
  const v = us / 1000;
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function pct(v: number): string {
  return Number.isFinite(v) ? `${Math.round(v * 100)}%` : '–';
}

function bytes(v: number): string {
  if (!Number.isFinite(v)) return '–';
  return Math.abs(v) >= 10 * 1024 ? `${(v / 1024).toFixed(1)} KiB` : `${v.toFixed(0)} B`;
}

function mib(v: number): string {
  return Number.isFinite(v) ? `${(v / 2 ** 20).toFixed(1)} MiB` : '–';
}

// ---- targets -------------------------------------------------------------------------------------

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
}

function hasCell(data: ResultsFile, id: string): boolean {
  return data.cells.some((c) => c.id === id);
}

export function checkTargets(data: ResultsFile): TargetCheck[] {
  const out: TargetCheck[] = [];
  const check = (target: string, parts: { label: string; v: number; ok: (v: number) => boolean; show?: (v: number) => string }[]): void => {
    const judged = parts.filter((p) => Number.isFinite(p.v));
    out.push({
      target,
      measured: parts.map((p) => `${p.label}: ${Number.isFinite(p.v) ? (p.show ?? formatRatio)(p.v) : 'not measured'}`).join('; '),
      met: judged.length === 0 ? null : judged.length === parts.length && judged.every((p) => p.ok(p.v)),
    });
  };
  const r = (cell: string, anchor: ImplId, metric: Metric, invert = false): number => ratio(data, cell, 'wsflow', anchor, metric, invert).median;
  if (hasCell(data, 'bin-1KiB-c1000')) {
    check('1 KiB × 1,000: deliveries/s per server core ≥ 3× ws and ≥ 1.5× gorilla', [
      { label: 'wsflow ÷ ws', v: r('bin-1KiB-c1000', 'ws', 'perCore'), ok: (v) => v >= 3 },
      { label: 'wsflow ÷ gorilla', v: r('bin-1KiB-c1000', 'gorilla', 'perCore'), ok: (v) => v >= 1.5 },
    ]);
  }
  const tenK = data.cells.filter((c) => c.type === 'throughput' && c.conns === 10_000 && !c.compress);
  if (tenK.length > 0) {
    check(
      '10,000 subscribers: deliveries/s per server core ≥ 2× ws',
      tenK.map((c) => ({ label: `${sizeLabel((c as { size: number }).size)}`, v: r(c.id, 'ws', 'perCore'), ok: (v: number) => v >= 2 })),
    );
  }
  const latency = data.cells.find((c) => c.type === 'latency');
  if (latency !== undefined) {
    check('p99 publish-to-arrival latency at the same rate no worse than ws (ws p99 ÷ wsflow p99 ≥ 1)', [
      { label: 'ws ÷ wsflow p99', v: r(latency.id, 'ws', 'p99us', true), ok: (v) => v >= 1 },
    ]);
  }
  const deflate = data.cells.filter((c) => c.type === 'throughput' && c.compress);
  if (deflate.length > 0) {
    check(
      'permessage-deflate (no context takeover): deliveries/s per server core ≥ 10× ws',
      deflate.map((c) => ({ label: `× ${(c as { conns: number }).conns.toLocaleString('en-US')}`, v: r(c.id, 'ws', 'perCore'), ok: (v: number) => v >= 10 })),
    );
  }
  if (hasCell(data, 'memory')) {
    check('memory: a subscription costs tens of bytes (JS heap per subscription < 100 B)', [
      { label: 'wsflow heap per subscription', v: med(data, 'memory', 'wsflow', 'heapPerSub'), ok: (v) => v < 100, show: bytes },
    ]);
  }
  const slow = data.cells.find((c): c is Extract<Cell, { type: 'slow' }> => c.type === 'slow');
  if (slow !== undefined) {
    const slowRuns = data.runs.filter((x) => x.cell === slow.id && x.impl === 'wsflow-slow' && x.ok);
    const maxBuffered = max(slowRuns.map((x) => num(x.maxBuffered)));
    const growth = med(data, slow.id, 'wsflow-slow', 'rssGrowth') - med(data, slow.id, 'wsflow', 'rssGrowth');
    check(`slow consumer (backpressureLimit ${bytes(slow.backpressureLimit)}): deliveries/s to the others within 10% of the run without it; the process holds no more than the limit for it`, [
      { label: 'with ÷ without', v: ratio(data, slow.id, 'wsflow-slow', 'wsflow', 'deliveriesPerSec').median, ok: (v) => v >= 0.9 },
      // One message may be queued past the limit: the check is made before queueing it.
      { label: 'largest bufferedAmount seen', v: maxBuffered, ok: (v) => v <= slow.backpressureLimit + slow.size + 14, show: bytes },
      { label: 'extra RSS growth (context: RSS moves by MiBs from run to run)', v: growth, ok: () => true, show: mib },
    ]);
  }
  const redis = data.cells.find((c) => c.type === 'redis');
  if (redis !== undefined) {
    check('across processes through Redis: deliveries/s ≥ 2× ws relay and socket.io; lower p99', [
      { label: 'wsflow ÷ ws', v: r(redis.id, 'ws', 'deliveriesPerSec'), ok: (v) => v >= 2 },
      { label: 'wsflow ÷ socket.io', v: r(redis.id, 'socket.io', 'deliveriesPerSec'), ok: (v) => v >= 2 },
      { label: 'p99 ws ÷ wsflow', v: r(redis.id, 'ws', 'p99us', true), ok: (v) => v > 1 },
      { label: 'p99 socket.io ÷ wsflow', v: r(redis.id, 'socket.io', 'p99us', true), ok: (v) => v > 1 },
    ]);
  }
  return out;
}

// ---- tables --------------------------------------------------------------------------------------

const RUN_COLUMNS: Column[] = [
  { header: 'cell' },
  { header: 'implementation' },
  { header: 'deliveries/s', align: 'right' },
  { header: 'publishes/s', align: 'right' },
  { header: 'server CPU', align: 'right' },
  { header: 'deliveries/s per core', align: 'right' },
  { header: 'p50 ms', align: 'right' },
  { header: 'p99 ms', align: 'right' },
  { header: 'subgen CPU', align: 'right' },
];

function runRows(data: ResultsFile): string[][] {
  const rows: string[][] = [];
  for (const cell of data.cells) {
    if (cell.type === 'memory') continue;
    for (const impl of cell.impls as ImplId[]) {
      if (!data.runs.some((r) => r.cell === cell.id && r.impl === impl)) continue;
      const cpu = med(data, cell.id, impl, 'serverCpu');
      const other = median(series(data, cell.id, impl, 'serverCpu').map((_, i) => num(data.runs.find((r) => r.cell === cell.id && r.impl === impl && r.rep === i)?.result?.otherCpu)));
      rows.push([
        cellLabel(cell),
        IMPL_LABELS[impl],
        formatCount(med(data, cell.id, impl, 'deliveriesPerSec')),
        formatCount(med(data, cell.id, impl, 'publishesPerSec')),
        cell.type === 'redis' ? `${pct(cpu)} + ${pct(other)}` : pct(cpu),
        formatCount(med(data, cell.id, impl, cell.type === 'redis' ? 'perCoreAll' : 'perCore')),
        ms(med(data, cell.id, impl, 'p50us')),
        ms(med(data, cell.id, impl, 'p99us')),
        pct(med(data, cell.id, impl, 'loadgenCpu')),
      ]);
    }
  }
  return rows;
}

const MEMORY_COLUMNS: Column[] = [
  { header: 'implementation' },
  { header: 'RSS per conn', align: 'right' },
  { header: 'heap per conn', align: 'right' },
  { header: 'RSS per subscription', align: 'right' },
  { header: 'heap per subscription', align: 'right' },
  { header: 'heap per conn for its 10 topics', align: 'right' },
];

function memoryRows(data: ResultsFile): string[][] {
  const cell = data.cells.find((c) => c.type === 'memory');
  if (cell === undefined) return [];
  return (cell.impls as ImplId[]).map((impl) => {
    const hs = med(data, cell.id, impl, 'heapPerSub');
    return [
      impl === 'ws' ? 'ws + Map<topic, Set<WebSocket>>' : IMPL_LABELS[impl],
      bytes(med(data, cell.id, impl, 'rssPerConn')),
      bytes(med(data, cell.id, impl, 'heapPerConn')),
      bytes(med(data, cell.id, impl, 'rssPerSub')),
      bytes(hs),
      bytes(hs * cell.topics),
    ];
  });
}

const RATIO_COLUMNS: Column[] = [{ header: 'cell' }, { header: 'metric' }, { header: 'wsflow ÷ ws' }, { header: 'wsflow ÷ gorilla' }, { header: 'wsflow ÷ socket.io' }];

function ratioRows(data: ResultsFile): string[][] {
  const rows: string[][] = [];
  const anchors: ImplId[] = ['ws', 'gorilla', 'socket.io'];
  const row = (cell: Cell, label: string, metric: Metric, invert = false): void => {
    rows.push([cellLabel(cell), label, ...anchors.map((a) => ((cell.impls as ImplId[]).includes(a) ? ratioText(ratio(data, cell.id, 'wsflow', a, metric, invert)) : ''))]);
  };
  for (const cell of data.cells) {
    switch (cell.type) {
      case 'throughput':
        row(cell, 'deliveries/s per server core', 'perCore');
        row(cell, 'deliveries/s', 'deliveriesPerSec');
        break;
      case 'latency':
        row(cell, 'p99 latency (anchor ÷ wsflow: > 1 is wsflow lower)', 'p99us', true);
        row(cell, 'p50 latency (anchor ÷ wsflow)', 'p50us', true);
        break;
      case 'memory':
        row(cell, 'heap per subscription (ws ÷ wsflow: > 1 is wsflow smaller)', 'heapPerSub', true);
        break;
      case 'redis':
        row(cell, 'deliveries/s', 'deliveriesPerSec');
        row(cell, 'deliveries/s per core (servers, publisher, Redis)', 'perCoreAll');
        row(cell, 'p99 latency (anchor ÷ wsflow)', 'p99us', true);
        break;
      case 'slow':
        break;
    }
  }
  return rows;
}

function slowText(data: ResultsFile): string | null {
  const cell = data.cells.find((c) => c.type === 'slow');
  if (cell === undefined || !data.runs.some((r) => r.cell === cell.id && r.ok)) return null;
  const d = (impl: ImplId): string =>
    `${formatCount(med(data, cell.id, impl, 'deliveriesPerSec'))} deliveries/s, RSS growth ${mib(med(data, cell.id, impl, 'rssGrowth'))}, ` +
    `${median(data.runs.filter((r) => r.cell === cell.id && r.impl === impl).map((r) => num(r.dropped)))} deliveries dropped, ` +
    `largest bufferedAmount ${bytes(median(data.runs.filter((r) => r.cell === cell.id && r.impl === impl).map((r) => num(r.maxBuffered))))}`;
  return `Slow consumer (${cellLabel(cell)}): without: ${d('wsflow')}; with one subscriber that never reads: ${d('wsflow-slow')}; ratio ${ratioText(ratio(data, cell.id, 'wsflow-slow', 'wsflow', 'deliveriesPerSec'))}.`;
}

export function textReport(data: ResultsFile): string {
  const parts = [renderTextTable(RUN_COLUMNS, runRows(data))];
  const mem = memoryRows(data);
  if (mem.length > 0) parts.push(renderTextTable(MEMORY_COLUMNS, mem));
  parts.push(renderTextTable(RATIO_COLUMNS, ratioRows(data)));
  const slow = slowText(data);
  if (slow !== null) parts.push(slow);
  parts.push(checkTargets(data).map((t) => `${t.met === null ? '[ n/a ]' : t.met ? '[ met ]' : '[MISSED]'} ${t.target}: ${t.measured}`).join('\n'));
  const failures = data.runs.filter((r) => !r.ok);
  if (failures.length > 0) parts.push(`Failed runs:\n${failures.map((f) => `  ${f.cell} ${f.impl} rep ${f.rep}: ${f.error ?? ''}`).join('\n')}`);
  for (const n of data.meta.notes) parts.push(`note: ${n}`);
  return parts.join('\n\n');
}

// ---- Markdown ------------------------------------------------------------------------------------

export function markdownSection(data: ResultsFile, chartFile: string): string {
  const m = data.meta;
  const L: string[] = [];
  L.push('## Fan-out: one message to many subscribers (issues 14 and 15)');
  L.push('');
  L.push(`- Command: \`${m.command}\`${m.quick ? ' (quick mode)' : ''}; ${m.reps} repetition(s) × ${m.warmupMs} ms warm-up + ${m.durationMs} ms measured per run (twice that with 10,000 subscribers); ${Math.round(m.elapsedSeconds)} s in all`);
  L.push(`- Machine: ${m.machine.cpu}, ${m.machine.cores} cores, ${m.machine.memoryGiB} GiB, ${m.machine.platform}. **Load**: \`${m.uptimeAtStart}\` at the start, \`${m.uptimeAtEnd}\` at the end (a machine shared with other jobs: absolute rates and latencies are depressed and noisy; read the per-core figures and the ratios)`);
  L.push(`- Versions: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  L.push(`- Date: ${m.machine.date}`);
  for (const n of m.notes) L.push(`- **Note**: ${n}`);
  L.push('');
  L.push('How it is measured (`bench/fanout/`):');
  L.push('');
  L.push(
    '- **Subscribers** are held by a Go load generator (`bench/fanout/subgen`, a raw RFC 6455 client) pinned to core 1. It checks every delivery: the exact bytes against the payload template, the order by the sequence number the publisher stamped into it (a missing, repeated or reordered message is an error), and the latency from publish to arrival from the CLOCK_MONOTONIC timestamp stamped next to it (Node\'s `process.hrtime`, Go\'s `runtime.nanotime`: the same clock). Deliveries are counted over the window; **server CPU** is the time the server process(es)\' threads spent on a CPU over the window (`/proc/<pid>/task/*/schedstat`, in ns: a server that drains its subscribers with 2% of a core is a handful of clock ticks in `/proc/<pid>/stat`); **deliveries/s per core** = deliveries/s ÷ that share. Deflate subscribers inflate each distinct compressed message once (without context takeover the same bytes always inflate to the same message), so the load generator is not the limit there.',
  );
  L.push(
    '- **Pacing, the same rule for every implementation**: the publisher runs inside the server (in the publisher process for Redis) behind a TCP control connection; the load generator writes there, every millisecond it moves, how many messages *every* subscriber has received, and the publisher keeps at most a window of messages beyond that (4–200 messages: at most 50,000 deliveries and about 32 MiB of payload in flight over all subscribers). So each server publishes as fast as its subscribers drain, and no queue grows without bound. The **same-rate** cell publishes at half the slowest implementation\'s rate of the 1 KiB × 1,000 cell of the same repetition, to compare latency at equal load.',
  );
  L.push(
    '- **In-process servers**, each on core 0, a fresh process per run, every connection subscribed to one topic: wsflow `Hub` (`hub.subscribe(ws, topic)`, `hub.publish(topic, data, { type })`: framed once, the same bytes written to every subscriber, several publishes to one socket in a turn corked together); `ws` with the loop of its README (`for (const client of wss.clients) client.send(data, { binary })`); gorilla/websocket with the hub of its examples/chat (a hub goroutine, a buffered channel of 256 per client drained by a writePump goroutine) broadcasting one `websocket.PreparedMessage` per publish (`WritePreparedMessage`, one write per message: the example\'s newline-joined batching cannot apply to prepared messages). Binary payloads of random bytes; the deflate cells publish 1 KiB of JSON-like text (compresses 3–5×), subscribers offering `permessage-deflate; client_no_context_takeover; server_no_context_takeover`: wsflow (level 1) shares one compressed frame among all of them, ws (level 6, its default) compresses per connection.',
  );
  L.push(
    '- **Memory**: a fresh server, full GC (`--expose-gc`, `gc()` twice), memory read; 10,000 idle connections, GC, read; every connection subscribed to 10 topics, GC, read. Per connection = second − first ÷ 10,000; per subscription = third − second ÷ 100,000. wsflow `Hub` against the `Map<topic, Set<WebSocket>>` that ws users write by hand.',
  );
  L.push(
    '- **Slow consumer**: 16 KiB binary messages to 100 subscribers, then the same with a 101st subscriber that never reads after its handshake (a 4 KiB receive buffer), with a 3 s warm-up; it is left out of the pacing and the counts. Large messages to few subscribers, because this host\'s kernel buffers up to 4 MiB per loopback connection (`tcp_wmem`) before the process holds a byte, and the hub\'s limit (its default, 1 MiB) must be reached within the warm-up. The server samples the largest `bufferedAmount` of any connection every 50 ms and counts the hub\'s drops (`hub.stats.dropped`); RSS growth is the server\'s RSS at the end of the window minus before the connections opened.',
  );
  L.push(
    '- **Across processes through Redis** (a throw-away `redis-server` on a free loopback port, no persistence): two server processes with the subscribers split between them and one publisher process, all on core 0 with Redis; wsflow `Hub` + `RedisBroker` in each (the publisher is a hub with no local subscriber); ws with the relay users write (one node-redis SUBSCRIBE per process, a loop over `wss.clients`; the publisher PUBLISHes); socket.io 4 with `@socket.io/redis-adapter` (`socket.join(room)`, the publisher `io.to(room).emit(\'m\', text)`), subscribers speaking Engine.IO v4 over the WebSocket transport. 1 KiB of letters and digits as text. "Per core" here divides by the CPU of both servers, the publisher and redis-server.',
  );
  L.push('- Implementations run one after another in an order rotated each repetition; figures are medians over repetitions; ratios are taken repetition by repetition, then the median (min–max in brackets).');
  L.push('');
  L.push(`![wsflow ÷ ws, gorilla, socket.io](${chartFile})`);
  L.push('');
  L.push('### Targets');
  L.push('');
  L.push(
    renderMarkdownTable(
      [{ header: 'target' }, { header: 'measured (median)' }, { header: 'met' }],
      checkTargets(data).map((t) => [t.target, t.measured, t.met === null ? 'n/a' : t.met ? 'yes' : '**no**']),
    ),
  );
  L.push('');
  L.push('### wsflow ÷ each anchor');
  L.push('');
  L.push(renderMarkdownTable(RATIO_COLUMNS, ratioRows(data)));
  L.push('');
  L.push('### Runs');
  L.push('');
  L.push(renderMarkdownTable(RUN_COLUMNS, runRows(data)));
  const mem = memoryRows(data);
  if (mem.length > 0) {
    L.push('');
    L.push('### Memory (10,000 connections × 10 topics, after GC)');
    L.push('');
    L.push(renderMarkdownTable(MEMORY_COLUMNS, mem));
  }
  const slow = slowText(data);
  if (slow !== null) {
    L.push('');
    L.push(slow);
  }
  const gaps = data.runs.filter((r) => r.ok && num(r.result?.gaps) > 0);
  if (gaps.length > 0) {
    L.push('');
    L.push(
      `Messages missing on a subscriber (allowed only where a hub subscribes its broker channel after the first publishes): ${gaps.map((g) => `${g.cell}/${g.impl}/rep ${g.rep}: ${num(g.result?.gaps)}`).join('; ')}.`,
    );
  }
  const failures = data.runs.filter((r) => !r.ok);
  if (failures.length > 0) {
    L.push('');
    L.push(`Failed runs (left out of the medians): ${failures.map((f) => `${f.cell}/${f.impl}/rep ${f.rep}: ${(f.error ?? '').slice(0, 200)}`).join('; ')}`);
  }
  return L.join('\n');
}

// ---- chart ---------------------------------------------------------------------------------------

export function chartSpec(data: ResultsFile): ChartSpec {
  const anchors: ImplId[] = ['ws', 'gorilla', 'socket.io'];
  const row = (cell: Cell, label: string, metric: Metric, invert = false): { label: string; values: number[] } => ({
    label,
    values: anchors.map((a) => ((cell.impls as ImplId[]).includes(a) ? ratio(data, cell.id, 'wsflow', a, metric, invert).median : NaN)),
  });
  const panels: ChartSpec['panels'] = [];
  const tp = data.cells.filter((c) => c.type === 'throughput');
  if (tp.length > 0) panels.push({ title: 'In-process fan-out: deliveries/s per server core', rows: tp.map((c) => row(c, cellLabel(c), 'perCore')) });
  const lat = data.cells.filter((c) => c.type === 'latency' || c.type === 'redis');
  if (lat.length > 0) panels.push({ title: 'p99 publish-to-arrival latency (anchor ÷ wsflow: right = wsflow lower)', rows: lat.map((c) => row(c, cellLabel(c), 'p99us', true)) });
  const redis = data.cells.filter((c) => c.type === 'redis');
  if (redis.length > 0) panels.push({ title: 'Across processes through Redis: deliveries/s', rows: redis.map((c) => row(c, cellLabel(c), 'deliveriesPerSec')) });
  const memory = data.cells.filter((c) => c.type === 'memory');
  if (memory.length > 0) panels.push({ title: 'Heap per subscription (ws ÷ wsflow: right = wsflow smaller)', rows: memory.map((c) => row(c, cellLabel(c), 'heapPerSub', true)) });
  const m = data.meta;
  return {
    title: 'wsflow fan-out, relative to ws, gorilla/websocket and socket.io',
    subtitle: `${m.machine.cpu}, servers on 1 core · node ${m.machine.node} · median of ${m.reps} repetition(s)${m.quick ? ' (quick)' : ''} · load ${m.loadAverage.map((v) => v.toFixed(1)).join(' ')} · ${m.machine.date.slice(0, 10)}`,
    series: [
      { label: 'ws', color: '#4e79a7' },
      { label: 'gorilla', color: '#59a14f' },
      { label: 'socket.io', color: '#e15759' },
    ],
    panels,
  };
}
