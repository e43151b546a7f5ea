/** Small statistics helpers for benchmarks: all of them ignore NaN and return NaN for no data. */

function clean(values: readonly number[]): number[] {
  return values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
}

/** The q-quantile (0 ≤ q ≤ 1) with linear interpolation between closest ranks. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = clean(values);
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** The median (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function min(values: readonly number[]): number {
  const sorted = clean(values);
  return sorted.length === 0 ? NaN : sorted[0];
}

export function max(values: readonly number[]): number {
  const sorted = clean(values);
  return sorted.length === 0 ? NaN : sorted[sorted.length - 1];
}

/** Geometric mean: the right average for ratios. */
export function geomean(values: readonly number[]): number {
  const sorted = clean(values).filter((v) => v > 0);
  if (sorted.length === 0) return NaN;
  return Math.exp(sorted.reduce((sum, v) => sum + Math.log(v), 0) / sorted.length);
}

/**
 * Pairwise ratios a[i] / b[i] of two series measured side by side (repetition i of each), so the
 * machine's drift between repetitions cancels; take the median of the result.
 */
export function pairwiseRatios(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.min(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(b[i] > 0 ? a[i] / b[i] : NaN);
  return out;
}

/** Half the min–max range relative to the median, as a rough ± figure for the spread of a series. */
export function relativeSpread(values: readonly number[]): number {
  const m = median(values);
  return m > 0 ? (max(values) - min(values)) / 2 / m : NaN;
}
