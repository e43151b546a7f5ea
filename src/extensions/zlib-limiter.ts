/**
 * A process-wide cap on concurrent zlib jobs.
 *
 * Every asynchronous zlib call runs on the libuv thread pool and holds its input, its output and zlib's
 * working buffers until it completes. Thousands of connections inflating at once would each hold such a
 * job in flight (and fragment the heap doing so: the well-known ws/Node issue behind ws's own limiter);
 * queueing beyond a small number gains nothing anyway, since the pool has only UV_THREADPOOL_SIZE
 * (default 4) threads. So all permessage-deflate instances of the process share one FIFO queue.
 *
 * permessage-deflate's synchronous fast path (small whole messages without context takeover) is not a job
 * here: it never waits, holds nothing once it returns, and is bounded by its input and output caps instead.
 */

/** ws's default, comfortably above the default thread-pool size so the pool never idles for want of work. */
export const DEFAULT_MAX_CONCURRENCY = 10;

/**
 * A unit of zlib work. It must call `done` exactly once when it no longer uses zlib (extra calls are ignored),
 * synchronously or later.
 */
export type ZlibJob = (done: () => void) => void;

interface Entry {
  job: ZlibJob;
  limit: number;
}

/**
 * FIFO limiter of concurrent jobs.
 *
 * Rule when callers pass different limits: each job carries its own limit, and the job at the head of the
 * queue starts only once fewer than *its* limit jobs are running process-wide. So a connection configured
 * with `maxConcurrency: k` never starts a job while k or more run, whatever other connections asked for; and
 * the queue stays strictly first-in first-out (a head job with a small limit holds back the ones behind it
 * rather than being overtaken), which keeps per-connection order and avoids starvation.
 */
export class ZlibLimiter {
  private readonly queue: Array<Entry | undefined> = [];
  private head = 0;
  private running = 0;
  private draining = false;

  /** Jobs started and not yet done. */
  get active(): number {
    return this.running;
  }

  /** Jobs waiting to start. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /**
   * Queues `job`; it starts as soon as fewer than `limit` jobs are running and every job queued before it has
   * started. It may start synchronously, inside this call.
   */
  run(job: ZlibJob, limit: number = DEFAULT_MAX_CONCURRENCY): void {
    this.queue.push({ job, limit: limit >= 1 ? limit : 1 });
    this.drain();
  }

  private drain(): void {
    // A job that completes synchronously calls done() -> drain() from inside this loop: the flag turns that
    // nested call into a no-op and this loop picks up the freed slot, so the stack never grows with the queue.
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.head < this.queue.length) {
        const entry = this.queue[this.head] as Entry;
        if (this.running >= entry.limit) break;
        this.queue[this.head++] = undefined;
        this.running++;
        let released = false;
        const done = (): void => {
          if (released) return;
          released = true;
          this.running--;
          this.drain();
        };
        try {
          entry.job(done);
        } catch (err) {
          // A throwing job must neither leak its slot nor stop the queue; the error still surfaces.
          done();
          process.nextTick(() => {
            throw err;
          });
        }
      }
    } finally {
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.draining = false;
    }
  }
}

/** The limiter shared by every permessage-deflate instance of the process. */
export const zlibLimiter = new ZlibLimiter();
