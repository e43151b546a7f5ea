// Summaries of the end-to-end runs: medians, pair-by-pair ratios, the targets, Markdown and text tables.
import * as fs from 'fs';
import type { MachineInfo } from '../lib/machine';
import { median, pairwiseRatios, relativeSpread, min, max } from '../lib/stats';
import { formatCount, formatRatio, formatSpread, renderMarkdownTable, renderTextTable, type Column } from '../lib/table';
import { ANCHORS, IMPLS, IMPL_LABELS, WRITE_BATCH_MAX, cellLabel, sizeLabel, type Cell, type EchoCell, type ImplId } from './cells';
import type { ChartSpec } from './chart';
import type { LoadgenResult, MemoryReport } from './processes';

export interface RunRecord {
  cell: string;
  impl: ImplId;
  rep: number;
  ok: boolean;
  error?: string;
  result?: LoadgenResult;
  memory?: { base: MemoryReport; loaded: MemoryReport; opened: number };
}

export interface ResultsMeta {
  machine: MachineInfo;
  versions: Record<string, string>;
  command: string;
  quick: boolean;
  reps: number;
  memoryReps: number;
  warmupMs: number;
  durationMs: number;
  wsflowApi: string;
  elapsedSeconds: number;
  loadAverage: number[];
  nofile: string;
}

export interface ResultsFile {
  meta: ResultsMeta;
  cells: Cell[];
  runs: RunRecord[];
}

export function loadResults(file: string): ResultsFile {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ResultsFile;
}

// ---- metrics -------------------------------------------------------------------------------------

type Metric = 'msgsPerSec' | 'bytesPerSec' | 'p50us' | 'p99us' | 'serverCpu' | 'perCore' | 'loadgenCpu' | 'handshakesPerSec' | 'rssPerConn' | 'heapPerConn' | 'externalPerConn';

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : NaN;
}

/** One metric of one run (NaN when the run failed or does not have it). */
export function metricOf(run: RunRecord, metric: Metric): number {
  if (!run.ok) return NaN;
  if (run.memory !== undefined) {
    const { base, loaded, opened } = run.memory;
    const per = (k: keyof MemoryReport): number => {
      const a = base[k];
      const b = loaded[k];
      return typeof a === 'number' && typeof b === 'number' && opened > 0 ? (b - a) / opened : NaN;
    };
    if (metric === 'rssPerConn') return per('rss');
    if (metric === 'heapPerConn') return per('heapUsed');
    if (metric === 'externalPerConn') return per('external');
    return NaN;
  }
  const r = run.result;
  if (r === undefined) return NaN;
  if (metric === 'perCore') {
    const cpu = num(r.serverCpu);
    const rate = num(r.msgsPerSec ?? r.handshakesPerSec);
    return cpu > 0.02 ? rate / Math.min(cpu, 1) : NaN;
  }
  return num(r[metric]);
}

export class Summary {
  constructor(readonly data: ResultsFile) {}

  series(cell: string, impl: ImplId, metric: Metric): number[] {
    const reps = Math.max(0, ...this.data.runs.filter((r) => r.cell === cell).map((r) => r.rep + 1));
    const out: number[] = new Array<number>(reps).fill(NaN);
    for (const run of this.data.runs) if (run.cell === cell && run.impl === impl) out[run.rep] = metricOf(run, metric);
    return out;
  }

  median(cell: string, impl: ImplId, metric: Metric): number {
    return median(this.series(cell, impl, metric));
  }

  spread(cell: string, impl: ImplId, metric: Metric): number {
    return relativeSpread(this.series(cell, impl, metric));
  }

  /** subject (default wsflow) ÷ anchor, repetition by repetition: median, min, max. */
  ratio(cell: string, anchor: ImplId, metric: Metric, subject: ImplId = 'wsflow'): { median: number; min: number; max: number; n: number } {
    const r = pairwiseRatios(this.series(cell, subject, metric), this.series(cell, anchor, metric)).filter((v) => Number.isFinite(v));
    return { median: median(r), min: min(r), max: max(r), n: r.length };
  }

  failures(): RunRecord[] {
    return this.data.runs.filter((r) => !r.ok);
  }
}

// ---- formatting ----------------------------------------------------------------------------------

function ms(us: number): string {
  if (!Number.isFinite(us)) return '–';
  const v = us / 1000;
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function pct(share: number): string {
  return Number.isFinite(share) ? `${Math.round(share * 100)}%` : '–';
}

function mb(bytesPerSec: number): string {
  if (!Number.isFinite(bytesPerSec)) return '–';
  const v = bytesPerSec / 1e6;
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function kib(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KiB` : '–';
}

function ratioCell(r: { median: number; min: number; max: number; n: number }): string {
  if (!Number.isFinite(r.median)) return '–';
  if (r.n < 2) return formatRatio(r.median);
  return `${formatRatio(r.median)} (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
}

// ---- targets -------------------------------------------------------------------------------------

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
}

export function checkTargets(s: Summary): TargetCheck[] {
  const cells = new Map(s.data.cells.map((c) => [c.id, c]));
  const out: TargetCheck[] = [];
  /** `ok: null`: shown for context, not part of the verdict. */
  type Part = { label: string; r: number; ok: ((v: number) => boolean) | null };
  const check = (target: string, parts: Part[]): void => {
    const judged = parts.filter((p) => p.ok !== null && Number.isFinite(p.r));
    out.push({
      target,
      measured: parts.map((p) => `${p.label}: ${formatRatio(p.r)}`).join('; ') || 'not measured',
      met: judged.length === 0 ? null : judged.every((p) => p.ok?.(p.r)),
    });
  };
  const echo = [...cells.values()].filter((c): c is EchoCell => c.type === 'echo');
  // The verdict is taken where the load generator batches its writes; with a write per message it was
  // the limit for the fastest servers (see the load generator's CPU), so those cells are context.
  check(
    'echo msgs/s per server core, 64 B and 1 KiB × 100 conns ≥ 1.3× ws+bufferutil',
    echo
      .filter((c) => c.payload === 'binary' && c.conns === 100 && (c.size === 64 || c.size === 1024))
      .sort((a, b) => Number(b.writeBatching) - Number(a.writeBatching) || a.size - b.size)
      .map((c) => ({
        label: `${sizeLabel(c.size)}${c.writeBatching ? '' : ' (a write per message, context)'}`,
        r: s.ratio(c.id, 'ws-bufferutil', 'perCore').median,
        ok: c.writeBatching ? (v: number) => v >= 1.3 : null,
      })),
  );
  check(
    'echo MB/s at 64 KiB and 1 MiB ≥ 1.0× ws+bufferutil',
    echo
      .filter((c) => c.payload === 'binary' && c.size >= 64 * 1024)
      .map((c) => ({ label: `${sizeLabel(c.size)} × ${c.conns}`, r: s.ratio(c.id, 'ws-bufferutil', 'msgsPerSec').median, ok: (v) => v >= 1.0 })),
  );
  if (cells.has('handshake')) {
    check('handshakes/s ≥ 1.5× ws', [{ label: 'handshakes/s', r: s.ratio('handshake', 'ws', 'handshakesPerSec').median, ok: (v) => v >= 1.5 }]);
  }
  if (cells.has('memory')) {
    check('idle memory per connection ≤ ws (wsflow ÷ ws ≤ 1)', [
      { label: 'RSS', r: s.ratio('memory', 'ws', 'rssPerConn').median, ok: (v) => v <= 1.0 },
      { label: 'heap', r: s.ratio('memory', 'ws', 'heapPerConn').median, ok: (v) => v <= 1.0 },
    ]);
  }
  check(
    'permessage-deflate 1 KiB JSON text msgs/s ≥ 1.5× ws',
    echo
      .filter((c) => c.compress)
      .map((c) => ({
        label: `${sizeLabel(c.size)} × ${c.conns}${c.size === 1024 ? '' : ' (context)'}`,
        r: s.ratio(c.id, 'ws', 'msgsPerSec').median,
        ok: c.size === 1024 ? (v: number) => v >= 1.5 : null,
      })),
  );
  checkIdiomTargets(s, echo, check);
  return out;
}

/** Whether an implementation was run in a cell. */
function ranIn(s: Summary, cell: string, impl: ImplId): boolean {
  return s.data.runs.some((r) => r.cell === cell && r.impl === impl);
}

/** Whether a run measured an implementation at all (it may have been left out with --impls). */
function measured(s: Summary, impl: ImplId): boolean {
  return s.data.runs.some((r) => r.impl === impl);
}

/** The targets of the await idiom (issue 17) and of the Node floor. */
function checkIdiomTargets(
  s: Summary,
  echo: EchoCell[],
  check: (target: string, parts: { label: string; r: number; ok: ((v: number) => boolean) | null }[]) => void,
): void {
  const plain = echo.filter((c) => !c.compress);
  if (measured(s, 'wsflow-await')) {
    const parts = echo.map((c) => ({
      label: `${cellLabel(c)}`,
      r: s.ratio(c.id, 'wsflow', 'perCore', 'wsflow-await').median,
      ok: (v: number) => v >= 0.95,
    }));
    if (s.data.cells.some((c) => c.id === 'handshake')) {
      parts.push({ label: 'handshakes', r: s.ratio('handshake', 'wsflow', 'perCore', 'wsflow-await').median, ok: (v: number) => v >= 0.95 });
    }
    check('await idiom ÷ events idiom, msgs/s per server core, every cell ≥ 0.95', parts);
    if (s.data.cells.some((c) => c.id === 'memory') && measured(s, 'ws')) {
      check('await idiom: idle memory per connection ≤ ws (÷ ws ≤ 1)', [
        { label: 'RSS', r: s.ratio('memory', 'ws', 'rssPerConn', 'wsflow-await').median, ok: (v: number) => v <= 1 },
        { label: 'heap', r: s.ratio('memory', 'ws', 'heapPerConn', 'wsflow-await').median, ok: (v: number) => v <= 1 },
      ]);
    }
    if (s.data.cells.some((c) => c.id === 'handshake') && measured(s, 'ws')) {
      check('await idiom: handshakes/s ≥ 1.5× ws', [
        { label: 'handshakes/s', r: s.ratio('handshake', 'ws', 'handshakesPerSec', 'wsflow-await').median, ok: (v: number) => v >= 1.5 },
      ]);
    }
  }
  if (measured(s, 'floor')) {
    // Judged at 100 connections, binary; the other plain cells are shown for context.
    const floorPart = (c: EchoCell): { label: string; r: number; ok: ((v: number) => boolean) | null } => ({
      label: `${sizeLabel(c.size)} × ${c.conns}${c.writeBatching || c.size > WRITE_BATCH_MAX ? '' : ' (a write per message)'}${judgedAgainstFloor(c) ? '' : ' (context)'}`,
      r: s.ratio(c.id, 'floor', 'perCore').median,
      ok: judgedAgainstFloor(c) ? (v: number) => v >= (c.size <= 1024 ? 0.8 : 0.7) : null,
    });
    check('wsflow ÷ Node floor, msgs/s per server core: ≥ 0.80 at 64 B and 1 KiB × 100 conns, ≥ 0.70 at 64 KiB and 1 MiB × 100', plain.map(floorPart));
  }
}


function judgedAgainstFloor(c: EchoCell): boolean {
  return c.payload === 'binary' && c.conns === 100 && (c.writeBatching || c.size > WRITE_BATCH_MAX);
}

const IDIOM_COLUMNS: Column[] = [
  { header: 'cell' },
  { header: 'await ÷ events, per core', align: 'right' },
  { header: 'wsflow ÷ floor, per core', align: 'right' },
  { header: 'await ÷ floor, per core', align: 'right' },
  { header: 'wsflow ÷ floor, msgs/s', align: 'right' },
  { header: 'ws+bufferutil ÷ floor, per core', align: 'right' },
];

/** The await idiom against the events idiom, and every echo cell as a fraction of the Node floor. */
function idiomRows(s: Summary): string[][] {
  const rows: string[][] = [];
  const r = (cell: string, anchor: ImplId, metric: Metric, subject: ImplId): string =>
    measured(s, subject) && measured(s, anchor) ? ratioCell(s.ratio(cell, anchor, metric, subject)) : '–';
  for (const cell of s.data.cells) {
    if (cell.type === 'echo') {
      rows.push([
        cellLabel(cell),
        r(cell.id, 'wsflow', 'perCore', 'wsflow-await'),
        r(cell.id, 'floor', 'perCore', 'wsflow'),
        r(cell.id, 'floor', 'perCore', 'wsflow-await'),
        r(cell.id, 'floor', 'msgsPerSec', 'wsflow'),
        r(cell.id, 'floor', 'perCore', 'ws-bufferutil'),
      ]);
    } else if (cell.type === 'handshake') {
      rows.push([
        `${cellLabel(cell)} (await ÷ ws: ${r(cell.id, 'ws', 'handshakesPerSec', 'wsflow-await')})`,
        r(cell.id, 'wsflow', 'perCore', 'wsflow-await'),
        r(cell.id, 'floor', 'perCore', 'wsflow'),
        r(cell.id, 'floor', 'perCore', 'wsflow-await'),
        r(cell.id, 'floor', 'handshakesPerSec', 'wsflow'),
        r(cell.id, 'floor', 'perCore', 'ws-bufferutil'),
      ]);
    } else {
      rows.push([
        `${cellLabel(cell)}: await ÷ ws RSS ${r(cell.id, 'ws', 'rssPerConn', 'wsflow-await')}, heap ${r(cell.id, 'ws', 'heapPerConn', 'wsflow-await')}; await ÷ events RSS ${r(cell.id, 'wsflow', 'rssPerConn', 'wsflow-await')}, heap ${r(cell.id, 'wsflow', 'heapPerConn', 'wsflow-await')}`,
        '',
        '',
        '',
        '',
        '',
      ]);
    }
  }
  return rows;
}

// ---- tables --------------------------------------------------------------------------------------

const ECHO_COLUMNS: Column[] = [
  { header: 'cell' },
  { header: 'implementation' },
  { header: 'msgs/s', align: 'right' },
  { header: '±', align: 'right' },
  { header: 'MB/s', align: 'right' },
  { header: 'p50 ms', align: 'right' },
  { header: 'p99 ms', align: 'right' },
  { header: 'server CPU', align: 'right' },
  { header: 'msgs/s per core', align: 'right' },
  { header: 'loadgen CPU', align: 'right' },
];

function echoRows(s: Summary): string[][] {
  const rows: string[][] = [];
  for (const cell of s.data.cells) {
    if (cell.type !== 'echo') continue;
    for (const impl of IMPLS) {
      if (!ranIn(s, cell.id, impl)) continue;
      rows.push([
        cellLabel(cell),
        IMPL_LABELS[impl],
        formatCount(s.median(cell.id, impl, 'msgsPerSec')),
        formatSpread(s.spread(cell.id, impl, 'msgsPerSec')),
        mb(s.median(cell.id, impl, 'bytesPerSec')),
        ms(s.median(cell.id, impl, 'p50us')),
        ms(s.median(cell.id, impl, 'p99us')),
        pct(s.median(cell.id, impl, 'serverCpu')),
        formatCount(s.median(cell.id, impl, 'perCore')),
        pct(s.median(cell.id, impl, 'loadgenCpu')),
      ]);
    }
  }
  return rows;
}

const RATIO_COLUMNS: Column[] = [
  { header: 'cell' },
  { header: 'metric' },
  ...ANCHORS.map((a) => ({ header: `wsflow ÷ ${IMPL_LABELS[a]}`, align: 'right' as const })),
];

function ratioRows(s: Summary): string[][] {
  const rows: string[][] = [];
  for (const cell of s.data.cells) {
    const metrics: [Metric, string][] =
      cell.type === 'echo'
        ? [
            ['msgsPerSec', 'msgs/s (= MB/s)'],
            ['perCore', 'msgs/s per server core'],
          ]
        : cell.type === 'handshake'
          ? [
              ['handshakesPerSec', 'handshakes/s'],
              ['perCore', 'handshakes/s per server core'],
            ]
          : [
              ['rssPerConn', 'RSS per conn (lower: wsflow smaller)'],
              ['heapPerConn', 'JS heap per conn (lower: wsflow smaller)'],
            ];
    for (const [metric, label] of metrics) {
      rows.push([
        cellLabel(cell),
        label,
        ...ANCHORS.map((a) => (metric === 'heapPerConn' && a === 'gorilla' ? '–' : ratioCell(s.ratio(cell.id, a, metric)))),
      ]);
    }
  }
  return rows;
}

const HANDSHAKE_COLUMNS: Column[] = [
  { header: 'implementation' },
  { header: 'handshakes/s', align: 'right' },
  { header: '±', align: 'right' },
  { header: 'server CPU', align: 'right' },
  { header: 'per server core', align: 'right' },
  { header: 'loadgen CPU', align: 'right' },
];

function handshakeRows(s: Summary): string[][] {
  return IMPLS.filter((impl) => ranIn(s, 'handshake', impl)).map((impl) => [
    IMPL_LABELS[impl],
    formatCount(s.median('handshake', impl, 'handshakesPerSec')),
    formatSpread(s.spread('handshake', impl, 'handshakesPerSec')),
    pct(s.median('handshake', impl, 'serverCpu')),
    formatCount(s.median('handshake', impl, 'perCore')),
    pct(s.median('handshake', impl, 'loadgenCpu')),
  ]);
}

const MEMORY_COLUMNS: Column[] = [
  { header: 'implementation' },
  { header: 'RSS per conn', align: 'right' },
  { header: 'JS heap per conn', align: 'right' },
  { header: 'external per conn', align: 'right' },
  { header: 'RSS at 0 → N conns', align: 'right' },
];

function memoryRows(s: Summary): string[][] {
  return IMPLS.filter((impl) => ranIn(s, 'memory', impl)).map((impl) => {
    const runs = s.data.runs.filter((r) => r.cell === 'memory' && r.impl === impl && r.ok && r.memory !== undefined);
    const base = median(runs.map((r) => r.memory?.base.rss ?? NaN));
    const loaded = median(runs.map((r) => r.memory?.loaded.rss ?? NaN));
    return [
      IMPL_LABELS[impl],
      kib(s.median('memory', impl, 'rssPerConn')),
      impl === 'gorilla' ? '–' : kib(s.median('memory', impl, 'heapPerConn')),
      impl === 'gorilla' ? '–' : kib(s.median('memory', impl, 'externalPerConn')),
      Number.isFinite(base) ? `${(base / 2 ** 20).toFixed(0)} → ${(loaded / 2 ** 20).toFixed(0)} MiB` : '–',
    ];
  });
}

export function textReport(s: Summary): string {
  const parts: string[] = [];
  parts.push(renderTextTable(ECHO_COLUMNS, echoRows(s)));
  if (s.data.cells.some((c) => c.type === 'handshake')) parts.push(renderTextTable(HANDSHAKE_COLUMNS, handshakeRows(s)));
  if (s.data.cells.some((c) => c.type === 'memory')) parts.push(renderTextTable(MEMORY_COLUMNS, memoryRows(s)));
  parts.push(renderTextTable(RATIO_COLUMNS, ratioRows(s)));
  if (measured(s, 'wsflow-await') || measured(s, 'floor')) parts.push(renderTextTable(IDIOM_COLUMNS, idiomRows(s)));
  parts.push(
    checkTargets(s)
      .map((t) => `${t.met === null ? '[ n/a ]' : t.met ? '[ met ]' : '[MISSED]'} ${t.target}: ${t.measured}`)
      .join('\n'),
  );
  const failures = s.failures();
  if (failures.length > 0) parts.push(`Failed runs:\n${failures.map((f) => `  ${f.cell} ${f.impl} rep ${f.rep}: ${f.error ?? ''}`).join('\n')}`);
  return parts.join('\n\n');
}

// ---- Markdown ------------------------------------------------------------------------------------

export function markdownSection(s: Summary, chartFile: string): string {
  const m = s.data.meta;
  const echoCells = s.data.cells.filter((c): c is EchoCell => c.type === 'echo');
  const lines: string[] = [];
  lines.push('## End to end: echo throughput, handshakes, idle memory');
  lines.push('');
  lines.push(`- Command: \`${m.command}\`${m.quick ? ' (quick mode: 100 connections only, short windows, memory measured once)' : ''}`);
  lines.push(
    `- ${m.reps} repetitions × ${m.warmupMs} ms warm-up + ${m.durationMs} ms measured per echo/handshake cell; idle memory ${m.memoryReps}×; ${Math.round(m.elapsedSeconds)} s in all`,
  );
  lines.push(`- Machine: ${m.machine.cpu}, ${m.machine.cores} cores, ${m.machine.memoryGiB} GiB, ${m.machine.platform}; load average at start ${m.loadAverage.map((v) => v.toFixed(2)).join(' ')} (shared machine)`);
  lines.push(`- Versions: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`- Date: ${m.machine.date}`);
  lines.push('');
  lines.push('How it is measured (`bench/run.ts`, `bench/e2e/`):');
  lines.push('');
  lines.push(
    '- **Servers**, each pinned to core 0 (`taskset -c 0`), one process per implementation and repetition, serving that repetition\'s cells in turn (so later cells run on a server with a history, as in production): wsflow ' +
      (m.wsflowApi === 'event'
        ? "(`ws.on('message', (data, type) => ws.writeMessage(data, type))`, the analog of the ws server's `on('message')` + `send()`; `--wsflow-api await` measures the backpressured `for await` idiom)"
        : m.wsflowApi === 'await'
          ? '(`for await (const m of ws) await ws.writeMessage(m.data, m.type)` — the idiom of the README and `examples/echo-server.ts`: whole messages, backpressure respected)'
          : `(\`--wsflow-api ${m.wsflowApi}\`)`) +
      ', the same server with the README\'s `for await (const m of ws) await ws.writeMessage(m.data, m.type)` idiom (**wsflow, await idiom**: the events and await servers side by side in every cell), `ws` with `WS_NO_BUFFER_UTIL=1`, `ws` with its native `bufferutil` addon (each checked at startup), both echoing `(data, isBinary) => ws.send(data, { binary: isBinary })`, and gorilla/websocket (the `ReadMessage`/`WriteMessage` loop of its examples/echo, default 4 KiB buffers). maxPayload 2 MiB everywhere. Compression only in the deflate cells (1 KiB and 64 KiB JSON-like text): wsflow `upgrader: { compression: true }` (zlib level 1), ws `perMessageDeflate: true` (zlib level 6, threshold 1 KiB), gorilla `EnableCompression: true` (level 1); the gorilla client only offers no-context-takeover, so every server compresses each message on its own.',
  );
  lines.push(
    '- **Node floor** (`bench/e2e/servers/floor-echo.ts`, echo cells without compression and handshakes): a raw `net` server that does the least any Node WebSocket echo server must do: the accept key and a fixed 101, then it walks the frame headers, unmasks (with wsflow\'s masking functions, so the addon when wsflow would use it) and writes the same frames back unmasked, one `socket.write` per read; no validation, no message assembly, no events, no promises. Pinned and loaded like the others; every echo cell is also reported as a fraction of it (msgs/s per server core).',
  );
  lines.push(
    '- **Load generator** (`bench/e2e/loadgen/main.go`, gorilla client) pinned to core 1: N connections, K messages in flight on each (K = 8 up to 1 KiB, 4 at 64 KiB, 1 at 1 MiB; at most 64 MiB in flight over all connections), every message sent as one frame and carrying its sequence number; every echo is checked byte for byte. Messages up to 4 KiB whose slots free up together (echoes that came back since the last write) leave in one write(2), as a pipelining client sends them: with gorilla\'s one write(2) per message, those syscalls were 70% of the load generator\'s CPU (its `-cpuprofile`) and it, not the server, set the pace for the fastest servers (wsflow at 90–94% CPU while the load generator was at 99–100%). The cells marked *a write per message* keep that regime, in which most reads bring a server a single frame, for comparison. After the warm-up it counts echoes in the window: msgs/s, MB/s (payload bytes echoed, 10^6), p50/p99 round trip (send to whole echo received, queueing included). **Server CPU** is utime+stime from `/proc/<pid>/stat` (all threads) over the window ÷ its length; **msgs/s per core** = msgs/s ÷ that share: the figure that does not depend on whether the load generator kept the server busy.',
  );
  lines.push(
    '- **Handshakes**: 16 workers each loop connect, upgrade, send Close 1000, read the server\'s Close, wait for the server to close TCP (source addresses spread over 127.0.0.1–16 so ports never run out). ' +
      'The client is a bare TCP one that writes a fixed upgrade request and checks the 101 status, Sec-WebSocket-Accept and the Close echo by hand: gorilla\'s Dialer cost the load generator about as much CPU per handshake as the Node servers spend, so it capped the fastest of them (`-handshake-client gorilla` keeps it).',
  );
  lines.push(
    '- **Idle memory**: a fresh server, full GC (`--expose-gc`, `gc()` twice; gorilla `runtime.GC()` + `debug.FreeOSMemory()`), memory read; then 10,000 connections opened, one 64 B echo on each, full GC, memory read again; per connection = difference ÷ 10,000. RSS for all; V8 heapUsed and external (Buffers) for Node. `ulimit -n` raised to the hard limit for server and load generator.',
  );
  lines.push(
    '- Implementations interleaved cell by cell in an order rotated each repetition; figures are medians over repetitions, ± is half the min–max range; **wsflow ÷ anchor** is computed per repetition from the measurements taken back to back, then the median (min–max in brackets). The machine is shared and noisy: read the ratios, the absolute figures are context.',
  );
  lines.push(
    '- Reading the figures: with 1 connection the servers are latency-bound (CPU share below 100%), and where the load generator\'s CPU nears 100% it, not the server, was the limit; in both cases **msgs/s per server core** is the figure that compares the servers. Other jobs share both cores, so a server\'s CPU share can also drop because it was preempted: that is why ratios are taken pair by pair and per core.',
  );
  lines.push('');
  lines.push(`![wsflow ÷ ws, ws+bufferutil, gorilla](${chartFile})`);
  lines.push('');
  lines.push('### Targets');
  lines.push('');
  lines.push(
    renderMarkdownTable(
      [{ header: 'target' }, { header: 'measured (wsflow ÷ anchor, median)' }, { header: 'met' }],
      checkTargets(s).map((t) => [t.target, t.measured, t.met === null ? 'n/a' : t.met ? 'yes' : '**no**']),
    ),
  );
  lines.push('');
  lines.push('### wsflow ÷ each anchor');
  lines.push('');
  lines.push(renderMarkdownTable(RATIO_COLUMNS, ratioRows(s)));
  if (measured(s, 'wsflow-await') || measured(s, 'floor')) {
    lines.push('');
    lines.push('### The await idiom, and the Node floor');
    lines.push('');
    lines.push(
      '`await` is the README\'s `for await (const m of ws) await ws.writeMessage(m.data, m.type)` server beside the `events` one (`wsflow`); the floor is the raw `net` echo server (`bench/e2e/servers/floor-echo.ts`): every ratio is taken pair by pair within a repetition, then the median (min–max).',
    );
    lines.push('');
    lines.push(renderMarkdownTable(IDIOM_COLUMNS, idiomRows(s)));
  }
  if (echoCells.length > 0) {
    lines.push('');
    lines.push('### Echo');
    lines.push('');
    lines.push(renderMarkdownTable(ECHO_COLUMNS, echoRows(s)));
  }
  if (s.data.cells.some((c) => c.type === 'handshake')) {
    lines.push('');
    lines.push('### Handshakes');
    lines.push('');
    lines.push(renderMarkdownTable(HANDSHAKE_COLUMNS, handshakeRows(s)));
  }
  if (s.data.cells.some((c) => c.type === 'memory')) {
    lines.push('');
    lines.push('### Idle memory (10,000 connections)');
    lines.push('');
    lines.push(renderMarkdownTable(MEMORY_COLUMNS, memoryRows(s)));
  }
  const failures = s.failures();
  if (failures.length > 0) {
    lines.push('');
    lines.push(`Failed runs (left out of the medians): ${failures.map((f) => `${f.cell}/${f.impl}/rep ${f.rep}: ${(f.error ?? '').slice(0, 160)}`).join('; ')}`);
  }
  const closeIssues = s.data.runs.filter((r) => r.ok && typeof r.result?.closeErrors === 'number' && (r.result.closeErrors as number) > 0);
  if (closeIssues.length > 0) {
    const byImpl = new Map<string, number>();
    for (const r of closeIssues) byImpl.set(`${r.impl} (${r.cell})`, (byImpl.get(`${r.impl} (${r.cell})`) ?? 0) + (r.result?.closeErrors as number));
    lines.push('');
    lines.push(
      `Closing handshakes that failed after the measured window (not counted against throughput): ${[...byImpl].map(([k, v]) => `${k}: ${v}`).join(', ')}. Sample: ${String((closeIssues[0].result?.closeErrorSamples as string[] | null)?.[0] ?? '')}. (The load generator sends Close while echoes are still in flight; a 1006 means the server ended TCP without sending its Close frame.)`,
    );
  }
  return lines.join('\n');
}

// ---- chart ---------------------------------------------------------------------------------------

const SERIES_COLORS: Record<string, string> = { ws: '#4e79a7', 'ws-bufferutil': '#f28e2b', gorilla: '#59a14f' };

export function chartSpec(data: ResultsFile): ChartSpec {
  const s = new Summary(data);
  const echo = data.cells.filter((c): c is EchoCell => c.type === 'echo');
  const row = (label: string, cell: string, metric: Metric, invert = false): { label: string; values: number[] } => ({
    label,
    values: ANCHORS.map((a) => {
      const r = s.ratio(cell, a, metric).median;
      return invert ? 1 / r : r;
    }),
  });
  const panels: ChartSpec['panels'] = [
    { title: 'Echo: msgs/s per server core', rows: echo.map((c) => row(cellLabel(c), c.id, 'perCore')) },
    { title: 'Echo: msgs/s (= MB/s)', rows: echo.map((c) => row(cellLabel(c), c.id, 'msgsPerSec')) },
  ];
  if (data.cells.some((c) => c.type === 'handshake')) {
    panels.push({
      title: 'Handshakes',
      rows: [row('handshakes/s', 'handshake', 'handshakesPerSec'), row('handshakes/s per server core', 'handshake', 'perCore')],
    });
  }
  if (data.cells.some((c) => c.type === 'memory')) {
    panels.push({
      title: 'Idle memory per connection (anchor ÷ wsflow: right = wsflow uses less)',
      rows: [row('RSS per connection', 'memory', 'rssPerConn', true), row('JS heap per connection', 'memory', 'heapPerConn', true)],
    });
    const heapRow = panels[panels.length - 1].rows[1];
    heapRow.values[ANCHORS.indexOf('gorilla')] = NaN;
  }
  const m = data.meta;
  return {
    title: 'wsflow end to end, relative to ws, ws + bufferutil and gorilla/websocket',
    subtitle: `${m.machine.cpu}, server on 1 core · node ${m.machine.node} · median of ${m.reps} interleaved repetitions${m.quick ? ' (quick)' : ''} · ${m.machine.date.slice(0, 10)}`,
    series: ANCHORS.map((a) => ({ label: IMPL_LABELS[a], color: SERIES_COLORS[a] })),
    panels,
  };
}
