// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: self time by function and by
// file, and inclusive time of wsflow's own functions, with dist/ locations mapped back to src/ through
// the source maps tsc writes.
import * as fs from 'fs';
import * as path from 'path';
import { renderTextTable } from '../lib/table';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
  positionTicks?: { line: number; ticks: number }[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

// ---- source maps ----------------------------------------------------------------------------------------

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Per generated line: segments [generatedColumn, sourceIndex, originalLine, originalColumn]. */
function decodeMappings(mappings: string): number[][][] {
  const lines: number[][][] = [];
  let src = 0;
  let oLine = 0;
  let oCol = 0;
  for (const line of mappings.split(';')) {
    const segs: number[][] = [];
    let gCol = 0;
    for (const seg of line.split(',')) {
      if (seg === '') continue;
      const vals: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const digit = B64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          vals.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      gCol += vals[0];
      if (vals.length >= 4) {
        src += vals[1];
        oLine += vals[2];
        oCol += vals[3];
        segs.push([gCol, src, oLine, oCol]);
      }
    }
    lines.push(segs);
  }
  return lines;
}

class SourceMaps {
  private readonly cache = new Map<string, { sources: string[]; lines: number[][][] } | null>();

  constructor(private readonly root: string) {}

  /** "src/x.ts:12" for a 0-based line/column of a compiled file, or the file's own path:line. */
  locate(url: string, line0: number, col0: number): string {
    const file = url.startsWith('file://') ? decodeURIComponent(url.slice(7)) : url;
    if (!path.isAbsolute(file)) return `${url}:${line0 + 1}`;
    const map = this.load(file);
    const rel = path.relative(this.root, file);
    if (map === null) return `${rel}:${line0 + 1}`;
    const segs = map.lines[line0] ?? [];
    let best: number[] | undefined;
    for (const s of segs) {
      if (s[0] <= col0) best = s;
      else break;
    }
    best ??= segs[0];
    if (best === undefined) return `${rel}:${line0 + 1}`;
    const source = path.relative(this.root, path.resolve(path.dirname(file), map.sources[best[1]]));
    return `${source}:${best[2] + 1}`;
  }

  private load(file: string): { sources: string[]; lines: number[][][] } | null {
    if (this.cache.has(file)) return this.cache.get(file) ?? null;
    let entry: { sources: string[]; lines: number[][][] } | null = null;
    try {
      const raw = JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')) as { sources: string[]; mappings: string };
      entry = { sources: raw.sources, lines: decodeMappings(raw.mappings) };
    } catch {
      entry = null;
    }
    this.cache.set(file, entry);
    return entry;
  }
}

// ---- analysis -----------------------------------------------------------------------------------------

function short(url: string, root: string): string {
  if (url === '') return '';
  const file = url.startsWith('file://') ? decodeURIComponent(url.slice(7)) : url;
  return path.isAbsolute(file) ? path.relative(root, file) : file;
}

/** The group a frame's self time is reported under in the by-file table. */
function groupOf(frame: CallFrame, located: string): string {
  if (frame.url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native / V8 builtins)';
  if (located.startsWith('src/')) return located.slice(0, located.indexOf(':'));
  if (frame.url.startsWith('node:')) return frame.url;
  return located.slice(0, located.lastIndexOf(':'));
}

export function analyzeProfile(file: string, root: string, top = 30): string {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const maps = new SourceMaps(root);
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  // Self time per node from the samples (µs, timeDeltas[i+1] is how long sample i lasted).
  const selfUs = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i + 1] ?? prof.timeDeltas[i] ?? 0;
    selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + Math.max(0, dt));
  }
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  let idle = 0;
  const fnSelf = new Map<string, { us: number; located: string; name: string }>();
  const groupSelf = new Map<string, number>();
  const lineSelf = new Map<string, number>();
  const locate = (f: CallFrame): string => (f.url === '' ? '' : maps.locate(f.url, f.lineNumber, f.columnNumber));
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (n === undefined) continue;
    const f = n.callFrame;
    if (f.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const located = locate(f);
    const name = f.functionName || '(anonymous)';
    const key = `${name}@${located || short(f.url, root)}`;
    const e = fnSelf.get(key) ?? { us: 0, located: located || short(f.url, root), name };
    e.us += us;
    fnSelf.set(key, e);
    const g = groupOf(f, located);
    groupSelf.set(g, (groupSelf.get(g) ?? 0) + us);
    // Line-level ticks inside wsflow's own code.
    if (located.startsWith('src/') && n.positionTicks !== undefined && (n.hitCount ?? 0) > 0) {
      for (const pt of n.positionTicks) {
        const l = maps.locate(f.url, pt.line - 1, 0);
        lineSelf.set(l, (lineSelf.get(l) ?? 0) + (us * pt.ticks) / (n.hitCount ?? 1));
      }
    }
  }
  const busy = total - idle;
  const share = (us: number): string => `${((100 * us) / busy).toFixed(1)}%`;

  // Inclusive time of wsflow functions: a sample counts once for each distinct src/ function on its stack.
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const leaf = byId.get(id);
    if (leaf === undefined || leaf.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n === undefined) break;
      const located = locate(n.callFrame);
      if (!located.startsWith('src/')) continue;
      const key = `${n.callFrame.functionName || '(anonymous)'}@${located}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }

  const out: string[] = [];
  out.push(`${(total / 1e6).toFixed(1)} s profiled, ${share(idle).replace('%', '')}% of busy time idle-equivalent → busy ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / total).toFixed(0)}% of wall)`);
  out.push('\nSelf time by function (share of busy time):');
  out.push(
    renderTextTable(
      [{ header: 'self', align: 'right' }, { header: 'function' }, { header: 'location' }],
      [...fnSelf.values()]
        .sort((a, b) => b.us - a.us)
        .slice(0, top)
        .map((e) => [share(e.us), e.name, e.located]),
    ),
  );
  out.push('\nSelf time by file / group:');
  out.push(
    renderTextTable(
      [{ header: 'self', align: 'right' }, { header: 'file' }],
      [...groupSelf].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([g, us]) => [share(us), g]),
    ),
  );
  out.push('\nInclusive time of wsflow (src/) functions:');
  out.push(
    renderTextTable(
      [{ header: 'total', align: 'right' }, { header: 'function@location' }],
      [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, us]) => [share(us), k]),
    ),
  );
  if (lineSelf.size > 0) {
    out.push('\nHottest src/ lines (self):');
    out.push(
      renderTextTable(
        [{ header: 'self', align: 'right' }, { header: 'line' }],
        [...lineSelf].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([l, us]) => [share(us), l]),
      ),
    );
  }
  return out.join('\n');
}

if (require.main === module) {
  const [file] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: node dist/bench/e2e/profile.js file.cpuprofile');
    process.exit(2);
  }
  console.log(analyzeProfile(file, process.cwd()));
}
