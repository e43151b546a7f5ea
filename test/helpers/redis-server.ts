// A real redis-server for the tests: a free loopback port, a throw-away directory and config, no
// persistence (--save '' --appendonly no), and the faults the broker must survive: stop, SIGSTOP/SIGCONT,
// restart on the same port. Every server started here is killed by `stopAllRedisServers()` (call it in
// afterAll) even when a test failed half-way.
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** Whether Debian's redis-server is installed (scripts/install-peers.sh). */
export function hasRedisServer(): boolean {
  return fs.existsSync(REDIS_SERVER);
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const running = new Set<RedisServer>();

export interface RedisServerOptions {
  /** Extra redis.conf lines (ACL `user` lines, …). */
  config?: string[];
}

export class RedisServer {
  readonly dir: string;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    private readonly config: string[],
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflow-redis-'));
  }

  /** Starts a server on a free loopback port and resolves once it accepts connections. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options.config ?? []);
    running.add(server);
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  private async launch(): Promise<void> {
    const conf = path.join(this.dir, 'redis.conf');
    fs.writeFileSync(
      conf,
      [
        `port ${this.port}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        `save ""`,
        'appendonly no',
        'daemonize no',
        'logfile ""',
        'loglevel warning',
        'protected-mode yes',
        ...this.config,
        '',
      ].join('\n'),
    );
    const proc = spawn(REDIS_SERVER, [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    let output = '';
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    // 'close', not 'exit': the stdio pipes are closed too, so no handle outlives the server.
    this.exited = new Promise((resolve) => proc.once('close', () => resolve()));
    // Ready when a connection is accepted and answered: poll, bounded.
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`redis-server exited at start:\n${output}`);
      if (await this.pingOnce()) return;
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${this.port} within 15 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** One raw PING over RESP: true when +PONG (or an auth error, which also proves it is up). */
  private pingOnce(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect(this.port, '127.0.0.1');
      let data = '';
      const done = (ok: boolean): void => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(1000, () => done(false));
      socket.on('error', () => done(false));
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => {
        data += d.toString();
        if (data.includes('\r\n')) done(data.startsWith('+PONG') || data.startsWith('-NOAUTH'));
      });
    });
  }

  /** Runs one command through a raw connection (no client library): for setup, probes, foreign publishes. */
  command(...args: Array<string | Buffer>): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port, '127.0.0.1');
      let data = '';
      socket.setTimeout(5000, () => {
        socket.destroy();
        reject(new Error('redis command timed out'));
      });
      socket.on('error', reject);
      socket.on('connect', () => {
        const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
        for (const a of args) {
          const bytes = typeof a === 'string' ? Buffer.from(a) : a;
          parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
        }
        socket.write(Buffer.concat(parts));
      });
      socket.on('data', (d) => {
        data += d.toString('latin1');
        if (data.endsWith('\r\n')) {
          socket.destroy();
          resolve(data);
        }
      });
    });
  }

  /** Stops the server (SIGKILL: as abrupt as a crash) and waits for it to exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGCONT');
    proc.kill('SIGKILL');
    await this.exited;
  }

  /** Freezes the process: connections stay open but nothing is answered. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  /** Starts it again on the same port (after `stop()`). */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Stops it for good and removes its directory. */
  async dispose(): Promise<void> {
    running.delete(this);
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Kills every server this process started and not yet disposed. */
export async function stopAllRedisServers(): Promise<void> {
  await Promise.all([...running].map((s) => s.dispose()));
}
