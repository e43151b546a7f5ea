import { ChildProcess, fork } from 'child_process';

/**
 * Request/response over the IPC channel of a forked Node process, so implementations that must not
 * share a process (e.g. one module loaded with and without a native addon) can be measured one at a
 * time from a single coordinator. Only one request runs at a time per worker, and the coordinator
 * awaits each before sending the next, so workers never compete for the CPU.
 */

interface Request {
  id: number;
  body: unknown;
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface WorkerOptions {
  /** Extra environment variables (merged over process.env; `undefined` removes one). */
  env?: Record<string, string | undefined>;
  /** Node flags for the child, e.g. ['--expose-gc']. */
  execArgv?: string[];
}

export class Worker {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private exited = false;

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    options: WorkerOptions = {},
  ) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [key, value] of Object.entries(options.env ?? {})) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
    this.child = fork(script, args, { env, execArgv: options.execArgv ?? [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (message: Reply) => {
      const waiter = this.pending.get(message.id);
      if (waiter === undefined) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`worker ${this.name}: ${message.error}`));
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      for (const waiter of this.pending.values()) {
        waiter.reject(new Error(`worker ${this.name} exited (${signal ?? code})`));
      }
      this.pending.clear();
    });
  }

  /** Sends `body` to the worker's handler and resolves with what it returns. */
  request<T>(body: unknown): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`worker ${this.name} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, body } satisfies Request);
    });
  }

  /** Disconnects the IPC channel (the worker then exits) and waits for the exit. */
  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.disconnect();
    });
  }

  /** Kills this worker (only this child process). */
  kill(): void {
    if (!this.exited) this.child.kill();
  }
}

/** In a worker: answers each request with `handler(body)`, one at a time; exits when the parent disconnects. */
export function serveRequests(handler: (body: unknown) => unknown): void {
  if (typeof process.send !== 'function') throw new Error('serveRequests(): not started as a forked worker');
  let queue: Promise<void> = Promise.resolve();
  process.on('message', (message: Request) => {
    queue = queue.then(async () => {
      let reply: Reply;
      try {
        reply = { id: message.id, ok: true, result: await handler(message.body) };
      } catch (err) {
        reply = { id: message.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
      }
      // The coordinator may be gone (interrupted): nothing left to report to.
      if (process.connected) process.send?.(reply, undefined, undefined, () => undefined);
    });
  });
  process.on('disconnect', () => process.exit(0));
}
