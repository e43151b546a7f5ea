// Helpers for the CLI tests: run the built `wsflow` (dist/src/cli/main.js) as a child process, wait for its
// output with a timeout, and make sure no child outlives its test.
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when the CLI is missing or older than the sources (tsc emits even past type errors elsewhere). */
export function ensureBuilt(): void {
  const fresh = (): boolean => (fs.existsSync(CLI) ? fs.statSync(CLI).mtimeMs : 0) >= newestMtime(path.join(ROOT, 'src'));
  if (fresh()) return;
  // Test files run in parallel workers: one builds (mkdir is atomic), the others wait for it.
  const lock = path.join(ROOT, 'dist/.cli-build-lock');
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${lock} is held: remove it if no build is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      if (!fs.existsSync(lock) && fresh()) return;
    }
  }
  try {
    if (!fresh()) build();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
  if (!fs.existsSync(CLI)) throw new Error(`the build did not produce ${CLI}`);
}

function build(): void {
  spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], {
    cwd: ROOT,
    stdio: 'ignore',
    timeout: 120_000,
  });
}

/** A running `wsflow` child, with its output so far. */
export interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout (or stderr), or rejects after `ms`. */
  waitFor(pattern: RegExp, ms?: number, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  /** Resolves with the exit status, or rejects after `ms` (the child is then killed). */
  exit(ms?: number): Promise<number | null>;
}

const children = new Set<ChildProcess>();

/** Kills every child still running: call from afterEach. */
export function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
}

export function runCli(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Cli {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, WSFLOW_HISTORY_FILE: '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const l of listeners) l();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const l of listeners) l();
  });
  if (options.input !== undefined) child.stdin.end(options.input);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, ms = 10_000, stream) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = (stream === 'stderr' ? err : out).match(pattern) ?? (stream === undefined ? err.match(pattern) : null);
          if (m !== null) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}\nstdout: ${out}\nstderr: ${err}`));
        }, ms);
        listeners.add(check);
        check();
      });
    },
    exit(ms = 15_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`wsflow ${args.join(' ')} did not exit within ${ms} ms\nstdout: ${out}\nstderr: ${err}`));
        }, ms);
      });
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
    },
  };
}

/** Starts `wsflow serve` on a free port and resolves with it and its port. */
export async function startServe(extra: string[] = []): Promise<{ cli: Cli; port: number }> {
  const cli = runCli(['serve', '--addr', '127.0.0.1:0', ...extra]);
  const m = await cli.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\//, 15_000, 'stdout');
  return { cli, port: Number(m[1]) };
}
