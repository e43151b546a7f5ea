// Child processes of the end-to-end benchmark: echo servers pinned to core 0, the Go load generator
// pinned to core 1, each with its open-file limit raised to the hard limit (10,000 connections need
// more than the usual soft limit of 1,024).
import { ChildProcess, spawn } from 'child_process';
import * as readline from 'readline';

/** The core of the servers and the core of the load generator. */
export const SERVER_CORE = 0;
export const LOADGEN_CORE = 1;

/** Runs `cmd` through bash with `ulimit -n` at the hard limit and `taskset -c core`; exec keeps the pid. */
function spawnPinned(core: number, cmd: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  const script = 'ulimit -n "$(ulimit -Hn)" && exec taskset -c "$0" "$@"';
  return spawn('bash', ['-c', script, String(core), ...cmd], { env, stdio: ['pipe', 'pipe', 'inherit'] });
}

/** Lines of a child's stdout, awaited one prefix at a time. */
class LineReader {
  private readonly lines: string[] = [];
  private waiter: { prefix: string; resolve: (line: string) => void; reject: (err: Error) => void } | null = null;
  private ended: Error | null = null;

  constructor(
    child: ChildProcess,
    private readonly name: string,
  ) {
    const rl = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      this.lines.push(line);
      this.check();
    });
    child.on('exit', (code, signal) => {
      this.ended = new Error(`${this.name} exited (${signal ?? code})`);
      // Let the last lines arrive first.
      setImmediate(() => this.check());
    });
  }

  next(prefix: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`${this.name}: no "${prefix}" line within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        prefix,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.check();
    });
  }

  private check(): void {
    const waiter = this.waiter;
    if (waiter === null) return;
    const i = this.lines.findIndex((l) => l.startsWith(waiter.prefix));
    if (i >= 0) {
      const line = this.lines[i];
      this.lines.splice(0, i + 1);
      this.waiter = null;
      waiter.resolve(line.slice(waiter.prefix.length).trim());
    } else if (this.ended !== null) {
      this.waiter = null;
      waiter.reject(this.ended);
    }
  }
}

export interface ServerSpec {
  /** argv, starting with the executable. */
  cmd: string[];
  env?: Record<string, string | undefined>;
}

/** Memory a server reports after a full GC: bytes. Go servers report rss only. */
export interface MemoryReport {
  rss: number;
  heapUsed?: number;
  heapTotal?: number;
  external?: number;
  arrayBuffers?: number;
}

export class ServerProcess {
  readonly child: ChildProcess;
  private readonly out: LineReader;
  port = 0;
  info: Record<string, unknown> = {};
  private exited = false;

  constructor(
    readonly name: string,
    spec: ServerSpec,
  ) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(spec.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    this.child = spawnPinned(SERVER_CORE, spec.cmd, env);
    this.child.on('exit', () => {
      this.exited = true;
    });
    this.out = new LineReader(this.child, `server ${name}`);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  async ready(): Promise<this> {
    const line = await this.out.next('READY', 15_000);
    const space = line.indexOf(' ');
    this.port = Number(space < 0 ? line : line.slice(0, space));
    if (space >= 0) this.info = JSON.parse(line.slice(space + 1)) as Record<string, unknown>;
    return this;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  async memory(): Promise<MemoryReport> {
    this.child.stdin?.write('mem\n');
    const report = JSON.parse(await this.out.next('MEM', 30_000)) as MemoryReport & { error?: string };
    if (report.error !== undefined) throw new Error(`server ${this.name}: ${report.error}`);
    return report;
  }

  /** Sends a command line of the server's own (e.g. the fan-out servers' `sub N`) and returns its answer line. */
  async command(line: string, answerPrefix: string, timeoutMs = 60_000): Promise<string> {
    this.child.stdin?.write(`${line}\n`);
    return this.out.next(answerPrefix, timeoutMs);
  }

  /** Asks the server to quit; kills it (this pid only) if it has not exited within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.write('quit\n');
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** The load generator's result line, as JSON. */
export type LoadgenResult = Record<string, unknown> & { errors: number; errorSamples: string[] | null };

/** Runs the load generator to completion and returns its RESULT. */
export async function runLoadgen(binary: string, args: string[], timeoutMs: number): Promise<LoadgenResult> {
  const child = spawnPinned(LOADGEN_CORE, [binary, ...args], process.env);
  child.stdin?.end();
  const out = new LineReader(child, 'loadgen');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    return JSON.parse(await out.next('RESULT', timeoutMs + 1_000)) as LoadgenResult;
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
  }
}

/**
 * The idle mode: starts the load generator, resolves once its connections are open with a function that
 * lets it close them and returns its RESULT.
 */
export async function openIdle(
  binary: string,
  args: string[],
  timeoutMs: number,
): Promise<{ opened: number; finish: () => Promise<LoadgenResult> }> {
  const child = spawnPinned(LOADGEN_CORE, [binary, '-mode', 'idle', ...args], process.env);
  const out = new LineReader(child, 'loadgen (idle)');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const opened = Number(await out.next('OPEN', timeoutMs));
    return {
      opened,
      finish: async () => {
        child.stdin?.end('close\n');
        try {
          return JSON.parse(await out.next('RESULT', 30_000)) as LoadgenResult;
        } finally {
          clearTimeout(timer);
          if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
        }
      },
    };
  } catch (err) {
    clearTimeout(timer);
    child.kill('SIGKILL');
    throw err;
  }
}
