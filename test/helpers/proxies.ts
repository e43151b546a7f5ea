// Real proxies for client tests, each on a free loopback port with a throw-away config in a temp dir:
// squid (HTTP, and HTTPS with https_port), tinyproxy (HTTP, with a ConnectPort allow-list) and microsocks
// (SOCKS5, optionally with username/password), danted (dante-server: SOCKS4 and SOCKS5, no auth). Every proxy started is stopped by stopAllProxies() —
// call it from afterAll — or by its own stop().
import { execFileSync, spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export const SQUID = '/usr/sbin/squid';
export const TINYPROXY = '/usr/bin/tinyproxy';
export const MICROSOCKS = '/usr/bin/microsocks';
export const DANTED = '/usr/sbin/danted';

/** Whether the proxy binaries are installed (scripts/install-peers.sh). */
export const proxiesInstalled = (): boolean => [SQUID, TINYPROXY, MICROSOCKS, DANTED].every((p) => fs.existsSync(p));

export interface RunningProxy {
  /** Where it listens (127.0.0.1). */
  port: number;
  /** squid with `https`: its TLS port. */
  httpsPort?: number;
  /** The process's stderr and log file so far, for failure messages. */
  log(): string;
  /** squid: the access log so far (one line per request, CONNECTs included). */
  accessLog(): string;
  stop(): Promise<void>;
}

const running = new Set<RunningProxy>();

/** Stops every proxy still running. */
export async function stopAllProxies(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/** A port nobody listens on right now (the kernel's pick, released before use). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Waits (bounded) until `ports` accept connections, or the child exits. */
async function waitListening(child: ChildProcess, ports: number[], log: () => string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`proxy exited early (${child.exitCode ?? child.signalCode}):\n${log()}`);
    const ok = await Promise.all(ports.map(canConnect));
    if (ok.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error(`proxy did not listen on ${ports.join(', ')} within ${ms} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function launch(cmd: string, args: string[], dir: string, ports: number[], logFile: string | undefined, cleanup: () => void = () => undefined): Promise<RunningProxy> {
  const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-20_000)));
  child.on('error', (err) => (stderr += String(err)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const log = (): string => {
    let file = '';
    try {
      if (logFile !== undefined) file = fs.readFileSync(logFile, 'utf8').slice(-5000);
    } catch {
      /* not written yet */
    }
    return `${stderr}\n${file}`;
  };
  let stopping: Promise<void> | undefined;
  const proxy: RunningProxy = {
    port: ports[0] as number,
    log,
    accessLog: () => {
      try {
        return fs.readFileSync(path.join(dir, 'access.log'), 'utf8');
      } catch {
        return '';
      }
    },
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        cleanup();
        fs.rmSync(dir, { recursive: true, force: true });
        running.delete(proxy);
      })()),
  };
  running.add(proxy);
  return waitListening(child, ports, log).then(
    () => proxy,
    async (err: unknown) => {
      await proxy.stop();
      throw err;
    },
  );
}

function tempDir(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `wsflow-${name}-`));
  // squid drops to the `proxy` user when started as root: it must be able to write its logs here.
  fs.chmodSync(dir, 0o777);
  return dir;
}

export interface SquidOptions {
  /** Require Basic proxy authentication with this user. */
  auth?: { user: string; password: string };
  /** Also listen for TLS (an HTTPS proxy) with this certificate. */
  https?: { keyPath: string; certPath: string };
}

/** squid as an HTTP proxy (and an HTTPS one with `https`); CONNECT allowed to any port. */
export async function startSquid(opts: SquidOptions = {}): Promise<RunningProxy> {
  const dir = tempDir('squid');
  const port = await freePort();
  const httpsPort = opts.https !== undefined ? await freePort() : undefined;
  const lines = [
    `http_port 127.0.0.1:${port}`,
    `pid_filename ${dir}/squid.pid`,
    `cache_log ${dir}/cache.log`,
    `access_log stdio:${dir}/access.log`,
    'cache deny all',
    'cache_mem 4 MB',
    'memory_cache_shared off',
    `coredump_dir ${dir}`,
    'shutdown_lifetime 0 seconds',
    'pinger_enable off',
    'icp_port 0',
    'htcp_port 0',
    // Names come from /etc/hosts; no query leaves the machine.
    'dns_nameservers 127.0.0.1',
    'acl CONNECT method CONNECT',
  ];
  if (process.getuid?.() === 0) lines.push('cache_effective_user proxy');
  if (httpsPort !== undefined && opts.https !== undefined) {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    fs.copyFileSync(opts.https.keyPath, key);
    fs.copyFileSync(opts.https.certPath, cert);
    fs.chmodSync(key, 0o644);
    lines.push(`https_port 127.0.0.1:${httpsPort} tls-cert=${cert} tls-key=${key}`);
  }
  if (opts.auth !== undefined) {
    const hash = execFileSync('openssl', ['passwd', '-apr1', opts.auth.password], { encoding: 'utf8' }).trim();
    fs.writeFileSync(path.join(dir, 'passwd'), `${opts.auth.user}:${hash}\n`, { mode: 0o644 });
    lines.push(`auth_param basic program /usr/lib/squid/basic_ncsa_auth ${dir}/passwd`, 'auth_param basic children 1', 'acl authed proxy_auth REQUIRED', 'http_access allow localhost authed');
  } else {
    lines.push('http_access allow localhost');
  }
  lines.push('http_access deny all');
  fs.writeFileSync(path.join(dir, 'squid.conf'), `${lines.join('\n')}\n`, { mode: 0o644 });
  // A service name of our own keeps its shared-memory segments apart from any other squid's.
  const service = `wsflow${process.pid}x${port}`;
  const proxy = await launch(SQUID, ['-N', '-n', service, '-f', path.join(dir, 'squid.conf')], dir, httpsPort !== undefined ? [port, httpsPort] : [port], path.join(dir, 'cache.log'), () => {
    for (const f of fs.readdirSync('/dev/shm')) if (f.startsWith(`${service}-`)) fs.rmSync(path.join('/dev/shm', f), { force: true });
  });
  if (httpsPort !== undefined) proxy.httpsPort = httpsPort;
  return proxy;
}

export interface TinyproxyOptions {
  /** The ports CONNECT may reach; tinyproxy allows all when none is listed. */
  connectPorts?: number[];
  auth?: { user: string; password: string };
}

/** tinyproxy as an HTTP proxy. */
export async function startTinyproxy(opts: TinyproxyOptions = {}): Promise<RunningProxy> {
  const dir = tempDir('tinyproxy');
  const port = await freePort();
  const lines = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 30',
    'MaxClients 50',
    'Allow 127.0.0.1',
    'LogLevel Info',
    `PidFile "${dir}/tinyproxy.pid"`,
    `LogFile "${dir}/tinyproxy.log"`,
    ...(opts.connectPorts ?? []).map((p) => `ConnectPort ${p}`),
  ];
  if (opts.auth !== undefined) lines.push(`BasicAuth ${opts.auth.user} ${opts.auth.password}`);
  fs.writeFileSync(path.join(dir, 'tinyproxy.conf'), `${lines.join('\n')}\n`);
  return launch(TINYPROXY, ['-d', '-c', path.join(dir, 'tinyproxy.conf')], dir, [port], path.join(dir, 'tinyproxy.log'));
}

/** microsocks as a SOCKS5 proxy, with RFC 1929 username/password when `auth` is given. */
export async function startMicrosocks(opts: { auth?: { user: string; password: string } } = {}): Promise<RunningProxy> {
  const dir = tempDir('microsocks');
  const port = await freePort();
  const args = ['-i', '127.0.0.1', '-p', String(port)];
  if (opts.auth !== undefined) args.push('-u', opts.auth.user, '-P', opts.auth.password);
  return launch(MICROSOCKS, args, dir, [port], undefined);
}

/**
 * danted (Dante) as a SOCKS server without authentication: it speaks SOCKS4 and SOCKS5 (not SOCKS4a's
 * host names, which it refuses). It needs `user.privileged`/`user.unprivileged`, so root runs it as nobody.
 */
export async function startDanted(): Promise<RunningProxy> {
  const dir = tempDir('danted');
  const port = await freePort();
  const lines = [
    `logoutput: ${dir}/danted.log`,
    `internal: 127.0.0.1 port = ${port}`,
    'external: 127.0.0.1',
    'socksmethod: none',
    'clientmethod: none',
    ...(process.getuid?.() === 0 ? ['user.privileged: root', 'user.unprivileged: nobody'] : []),
    'client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }',
    'socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 command: connect }',
  ];
  fs.writeFileSync(path.join(dir, 'danted.conf'), `${lines.join('\n')}\n`);
  return launch(DANTED, ['-f', path.join(dir, 'danted.conf'), '-N', '1', '-p', path.join(dir, 'danted.pid')], dir, [port], path.join(dir, 'danted.log'));
}
