// A small hand-written SVG chart of the end-to-end results: wsflow's ratio to each anchor, one row per
// cell, bars diverging from 1× on a log₂ axis (so 2× and 0.5× are the same length). No plotting
// dependency. Usable on its own: `node dist/bench/e2e/chart.js results.json out.svg`.
import * as fs from 'fs';

export interface ChartRow {
  label: string;
  /** One value per series (NaN: not measured). */
  values: number[];
}

export interface ChartPanel {
  title: string;
  rows: ChartRow[];
}

export interface ChartSpec {
  title: string;
  subtitle: string;
  series: { label: string; color: string }[];
  panels: ChartPanel[];
}

const WIDTH = 920;
const LABEL_W = 250;
const RIGHT_PAD = 60;
const BAR_H = 9;
const BAR_GAP = 2;
const ROW_GAP = 10;
const PANEL_TITLE_H = 26;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  return v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(2);
}

export function renderChart(spec: ChartSpec): string {
  const all = spec.panels.flatMap((p) => p.rows.flatMap((r) => r.values)).filter((v) => Number.isFinite(v) && v > 0);
  let lo = -2; // log2 of the axis ends: at least 0.25× … 4×
  let hi = 2;
  for (const v of all) {
    lo = Math.min(lo, Math.floor(Math.log2(v) - 0.15));
    hi = Math.max(hi, Math.ceil(Math.log2(v) + 0.15));
  }
  lo = Math.max(lo, -6);
  hi = Math.min(hi, 6);
  const plotW = WIDTH - LABEL_W - RIGHT_PAD;
  const x = (v: number): number => {
    const l = Math.min(hi, Math.max(lo, Math.log2(v)));
    return LABEL_W + ((l - lo) / (hi - lo)) * plotW;
  };
  const rowH = (n: number): number => n * BAR_H + (n - 1) * BAR_GAP + ROW_GAP;
  const n = spec.series.length;
  const top = 78;
  let height = top;
  for (const p of spec.panels) height += PANEL_TITLE_H + p.rows.length * rowH(n) + 8;
  height += 34;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="16" y="24" font-size="16" font-weight="600" fill="#222">${esc(spec.title)}</text>`);
  out.push(`<text x="16" y="43" fill="#555">${esc(spec.subtitle)}</text>`);
  // Legend.
  let lx = 16;
  for (const s of spec.series) {
    out.push(`<rect x="${lx}" y="54" width="12" height="12" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 17}" y="64.5" fill="#333">wsflow ÷ ${esc(s.label)}</text>`);
    lx += 34 + s.label.length * 7 + 50;
  }
  // Grid: powers of two.
  const gridTop = top - 4;
  const gridBottom = height - 30;
  for (let e = lo; e <= hi; e++) {
    const gx = x(2 ** e);
    out.push(`<line x1="${gx}" y1="${gridTop}" x2="${gx}" y2="${gridBottom}" stroke="${e === 0 ? '#333' : '#e3e3e3'}" stroke-width="${e === 0 ? 1.2 : 1}"/>`);
    const label = e >= 0 ? `${2 ** e}×` : `1/${2 ** -e}×`;
    out.push(`<text x="${gx}" y="${gridBottom + 15}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  out.push(`<text x="${WIDTH - RIGHT_PAD}" y="${gridBottom + 28}" text-anchor="end" fill="#777" font-size="11">right of 1×: wsflow better · log₂ scale</text>`);

  let y = top;
  for (const panel of spec.panels) {
    out.push(`<text x="16" y="${y + 17}" font-weight="600" fill="#222">${esc(panel.title)}</text>`);
    y += PANEL_TITLE_H;
    for (const row of panel.rows) {
      const h = rowH(n) - ROW_GAP;
      out.push(`<text x="${LABEL_W - 10}" y="${y + h / 2 + 4}" text-anchor="end" fill="#333">${esc(row.label)}</text>`);
      row.values.forEach((v, i) => {
        const by = y + i * (BAR_H + BAR_GAP);
        if (!Number.isFinite(v) || v <= 0) {
          out.push(`<text x="${x(1) + 4}" y="${by + BAR_H - 1}" fill="#999" font-size="10">n/a</text>`);
          return;
        }
        const x0 = x(1);
        const x1 = x(v);
        const left = Math.min(x0, x1);
        const w = Math.max(1, Math.abs(x1 - x0));
        out.push(`<rect x="${left.toFixed(1)}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${spec.series[i].color}"><title>${esc(`${row.label}: wsflow ÷ ${spec.series[i].label} = ${fmt(v)}×`)}</title></rect>`);
        const tx = v >= 1 ? x1 + 4 : x1 - 4;
        out.push(`<text x="${tx.toFixed(1)}" y="${by + BAR_H - 0.5}" text-anchor="${v >= 1 ? 'start' : 'end'}" fill="#444" font-size="10">${fmt(v)}×</text>`);
      });
      y += rowH(n);
    }
    y += 8;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

if (require.main === module) {
  // Standalone: re-render the chart of a saved results file.
  const [input, output] = process.argv.slice(2);
  if (input === undefined || output === undefined) {
    console.error('usage: node dist/bench/e2e/chart.js results.json out.svg');
    process.exit(2);
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { loadResults, chartSpec } = require('./report') as typeof import('./report');
  fs.writeFileSync(output, renderChart(chartSpec(loadResults(input))));
}
