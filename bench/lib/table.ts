/** Plain-text and Markdown tables, and the number formats the benchmarks print. */

export type Align = 'left' | 'right';

export interface Column {
  header: string;
  align?: Align;
}

/** A fixed-width text table for the terminal. A row of `null` prints a separator line. */
export function renderTextTable(columns: readonly Column[], rows: readonly (readonly string[] | null)[]): string {
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...rows.map((r) => (r === null ? 0 : (r[i] ?? '').length))),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (columns[i].align === 'right' ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [line(columns.map((c) => c.header)), rule];
  for (const row of rows) out.push(row === null ? rule : line(row));
  return out.join('\n');
}

/** A GitHub-flavoured Markdown table. Separator rows (`null`) are dropped. */
export function renderMarkdownTable(columns: readonly Column[], rows: readonly (readonly string[] | null)[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = [
    `| ${columns.map((c) => esc(c.header)).join(' | ')} |`,
    `|${columns.map((c) => (c.align === 'right' ? '---:' : ':---')).join('|')}|`,
  ];
  for (const row of rows) if (row !== null) out.push(`| ${row.map(esc).join(' | ')} |`);
  return out.join('\n');
}

/** 1234567 → "1.23 M", with k/M/G prefixes and three significant digits. */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const units: [number, string][] = [
    [1e9, ' G'],
    [1e6, ' M'],
    [1e3, ' k'],
  ];
  for (const [scale, suffix] of units) if (Math.abs(value) >= scale) return `${toSignificant(value / scale)}${suffix}`;
  return toSignificant(value);
}

/** A byte rate in MB/s (10^6 bytes), three significant digits, at least one decimal below 100. */
export function formatMBps(bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond)) return '–';
  return toSignificant(bytesPerSecond / 1e6);
}

/** A ratio as "1.23×". */
export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '–';
}

/** A fraction as "±4%". */
export function formatSpread(fraction: number): string {
  return Number.isFinite(fraction) ? `±${Math.round(fraction * 100)}%` : '–';
}

/** 16 → "16 B", 1024 → "1 KiB", 1048576 → "1 MiB". */
export function formatSize(bytes: number): string {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes >> 20} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes >> 10} KiB`;
  return `${bytes} B`;
}

function toSignificant(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}
