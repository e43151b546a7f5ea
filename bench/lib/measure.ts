/** A unit of timed work: `prepare` runs untimed before each iteration, `run` is timed. */
export interface Job {
  /** Untimed, before every iteration (e.g. restore input that the timed part consumes). */
  prepare?(): void;
  /** The timed part; returns the number of items it processed (frames, calls…). */
  run(): number;
}

export interface Measurement {
  /** Timed seconds, summed over iterations. */
  seconds: number;
  iterations: number;
  /** Items processed (sum of what `run` returned). */
  items: number;
}

declare const gc: (() => void) | undefined;

/**
 * Runs `job` for at least `minMs` of timed work and `minIterations` iterations, timing each `run()`
 * with hrtime and excluding `prepare()`. With `collect` and --expose-gc, a full GC first, so one
 * job's garbage is not collected on the next one's clock.
 */
export function measure(job: Job, minMs: number, minIterations = 2, collect = true): Measurement {
  if (collect && typeof gc === 'function') gc();
  const budget = BigInt(Math.round(minMs * 1e6));
  let elapsed = 0n;
  let iterations = 0;
  let items = 0;
  while (elapsed < budget || iterations < minIterations) {
    job.prepare?.();
    const t0 = process.hrtime.bigint();
    items += job.run();
    elapsed += process.hrtime.bigint() - t0;
    iterations++;
  }
  return { seconds: Number(elapsed) / 1e9, iterations, items };
}

/** Runs `job` untimed for about `ms` milliseconds so the JIT has optimised it before measuring. */
export function warmUp(job: Job, ms: number): void {
  measure(job, ms, 3, false);
}

/** A unit of timed work that completes asynchronously (a stream's output arrives on later ticks). */
export interface AsyncJob {
  prepare?(): void;
  /** The timed part, until its promise settles; resolves with the number of items processed. */
  runAsync(): Promise<number>;
}

/** {@link measure} for an {@link AsyncJob}: the clock runs from the call until the promise settles. */
export async function measureAsync(job: AsyncJob, minMs: number, minIterations = 2, collect = true): Promise<Measurement> {
  if (collect && typeof gc === 'function') gc();
  const budget = BigInt(Math.round(minMs * 1e6));
  let elapsed = 0n;
  let iterations = 0;
  let items = 0;
  while (elapsed < budget || iterations < minIterations) {
    job.prepare?.();
    const t0 = process.hrtime.bigint();
    items += await job.runAsync();
    elapsed += process.hrtime.bigint() - t0;
    iterations++;
  }
  return { seconds: Number(elapsed) / 1e9, iterations, items };
}
