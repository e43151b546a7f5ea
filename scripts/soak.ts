// `npm run soak`: bounded load and soak runs over loopback, server and clients in separate processes.
//
//   npm run soak                         all three phases at the default scale
//   npm run soak -- --quick              10 s phases, smaller counts
//   npm run soak -- --phase connections --conns 10000 --duration 60
//   npm run soak -- --phase churn --messages 50000000 --conns 100     (full scale: "an hour's worth")
//   npm run soak -- --phase shutdown
//
// Phases:
//   connections  N concurrent connections (default 10,000), each echoing one message per second for
//                --duration s: errors, p50/p99/max latency, server RSS per connection, client CPU.
//   churn        --conns connections (default 100) sending --messages small messages in total (default
//                2,000,000), each connection closing and reconnecting every --churn messages; heap and RSS
//                of the server sampled every 2 s; every message must come back exactly once.
//   shutdown     200 connections flooding; the server's close() mid-flood: every client must see 1001 and
//                receive every echo the server queued before its Close.
// Every loop is bounded by counts and deadlines; the processes exit when done.
import { fork, ChildProcess } from 'child_process';
import { WebSocketServer, connect, WebSocket } from '../src';

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(`--${name}`);
const opt = (name: string, fallback: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const optStr = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? String(argv[i + 1]) : fallback;
};
const quick = flag('quick');
const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

type Msg = Record<string, unknown> & { type: string };

// ---------------------------------------------------------------- server process
async function serverRole(): Promise<void> {
  let received = 0;
  let echoedWhileOpen = 0;
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', upgrader: { closeTimeout: 5000 } }, (ws) => {
    void (async () => {
      try {
        for await (const m of ws) {
          received++;
          if (ws.readyState !== 'open') continue;
          echoedWhileOpen++;
          await ws.writeMessage(m.data, m.type);
        }
      } catch {
        /* closed */
      }
    })();
  });
  wss.on('handshakeError', () => undefined);
  const { port } = await wss.listen();
  const send = (m: Msg): void => void process.send?.(m);
  process.on('message', (m: Msg) => {
    if (m.type === 'stats') {
      global.gc?.();
      const mem = process.memoryUsage();
      send({ type: 'stats', rss: mem.rss, heapUsed: mem.heapUsed, arrayBuffers: mem.arrayBuffers, clients: wss.clients.size, received, echoedWhileOpen, cpu: process.cpuUsage() });
    } else if (m.type === 'close') {
      const t0 = Date.now();
      void wss.close().then(() => {
        send({ type: 'closed', ms: Date.now() - t0, received, echoedWhileOpen });
        setTimeout(() => process.exit(0), 100);
      });
    }
  });
  send({ type: 'ready', port });
}

// ---------------------------------------------------------------- client process
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function openMany(url: string, n: number): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  for (let i = 0; i < n; i += 250) {
    const batch = await Promise.all(Array.from({ length: Math.min(250, n - i) }, () => connect(url, { handshakeTimeout: 30_000 })));
    out.push(...batch);
  }
  return out;
}

async function clientRole(): Promise<void> {
  const url = `ws://127.0.0.1:${opt('port', 0)}/`;
  const phase = optStr('phase', 'connections');
  const send = (m: Msg): void => void process.send?.(m);
  let errors = 0;
  if (phase === 'connections') {
    const n = opt('conns', 10_000);
    const durationMs = opt('duration', 60) * 1000;
    const t0 = Date.now();
    const sockets = await openMany(url, n);
    send({ type: 'connected', n: sockets.length, ms: Date.now() - t0 });
    await new Promise<void>((r) => process.once('message', () => r())); // the parent measured the server
    const latencies: number[] = [];
    let sent = 0;
    let got = 0;
    const cpu0 = process.cpuUsage();
    const started = Date.now();
    await Promise.all(
      sockets.map(async (ws, i) => {
        // Spread the connections over the second so the rate is even: n messages per second in total.
        await new Promise((r) => setTimeout(r, (i * 1000) / n));
        while (Date.now() - started < durationMs) {
          const t = process.hrtime.bigint();
          try {
            sent++;
            await ws.writeMessage(String(t));
            const m = await ws.readMessage();
            got++;
            latencies.push(Number(process.hrtime.bigint() - BigInt(m.data.toString())) / 1e6);
          } catch {
            errors++;
            return;
          }
          const wait = 1000 - Number(process.hrtime.bigint() - t) / 1e6;
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    const wall = Date.now() - started;
    latencies.sort((a, b) => a - b);
    await Promise.all(sockets.map((ws) => ws.close().catch(() => undefined)));
    send({
      type: 'result', sent, got, errors, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? 0,
      clientCpu: (cpu.user + cpu.system) / 1000 / wall,
    });
  } else if (phase === 'churn') {
    const conns = opt('conns', 100);
    const total = opt('messages', 2_000_000);
    const churn = opt('churn', 5000);
    const window = 32;
    let sent = 0;
    let got = 0;
    let reconnects = 0;
    const payload = Buffer.alloc(32, 0x61);
    const per = Math.ceil(total / conns);
    const lane = async (): Promise<void> => {
      let left = per;
      while (left > 0) {
        const ws = await connect(url);
        const batch = Math.min(churn, left);
        let inflight = 0;
        let laneGot = 0;
        await new Promise<void>((resolve, reject) => {
          const reader = (async () => {
            while (laneGot < batch) {
              await ws.readMessage();
              laneGot++;
              got++;
              inflight--;
            }
          })();
          reader.then(resolve, reject);
          void (async () => {
            for (let i = 0; i < batch; i++) {
              while (inflight >= window) await new Promise((r) => setImmediate(r));
              inflight++;
              sent++;
              await ws.writeMessage(payload);
            }
          })().catch(reject);
        }).catch(() => errors++);
        left -= batch;
        await ws.close();
        reconnects++;
      }
    };
    const t0 = Date.now();
    const ticker = setInterval(() => send({ type: 'progress', sent, got, errors, reconnects, ms: Date.now() - t0 }), 2000);
    await Promise.all(Array.from({ length: conns }, lane));
    clearInterval(ticker);
    send({ type: 'result', sent, got, errors, reconnects, ms: Date.now() - t0 });
  } else if (phase === 'shutdown') {
    const sockets = await openMany(url, opt('conns', 200));
    let received = 0;
    const codes = new Map<number, number>();
    const done = sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.once('close', (info: { code: number }) => {
            codes.set(info.code, (codes.get(info.code) ?? 0) + 1);
            resolve();
          });
          void (async () => {
            try {
              for await (const _ of ws) received++;
            } catch {
              /* closed */
            }
          })();
          void (async () => {
            for (let i = 0; i < 1_000_000 && ws.readyState === 'open'; i++) {
              if (i % 16 === 0) await new Promise((r) => setImmediate(r));
              await ws.writeMessage('x'.repeat(64)).catch(() => undefined);
            }
          })();
        }),
    );
    send({ type: 'flooding' });
    await Promise.all(done);
    send({ type: 'result', received, codes: Object.fromEntries(codes), errors });
  }
  process.exit(0);
}

// ---------------------------------------------------------------- orchestration
function spawnRole(role: string, extra: string[] = []): ChildProcess {
  return fork(__filename, ['--role', role, ...extra], {
    execArgv: [...(__filename.endsWith('.ts') ? ['-r', 'ts-node/register/transpile-only'] : []), '--expose-gc', '--max-old-space-size=4096'],
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  });
}
function next(child: ChildProcess, type: string, timeoutMs: number): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${type}' within ${timeoutMs} ms`)), timeoutMs);
    const on = (m: Msg): void => {
      if (m.type !== type) return;
      clearTimeout(timer);
      child.removeListener('message', on);
      resolve(m);
    };
    child.on('message', on);
  });
}

async function phaseConnections(): Promise<void> {
  const conns = opt('conns', quick ? 2000 : 10_000);
  const duration = opt('duration', quick ? 10 : 60);
  const server = spawnRole('server');
  const { port } = (await next(server, 'ready', 10_000)) as unknown as { port: number };
  server.send({ type: 'stats' });
  const idle = (await next(server, 'stats', 10_000)) as unknown as { rss: number; heapUsed: number };
  const client = spawnRole('clients', ['--phase', 'connections', '--port', String(port), '--conns', String(conns), '--duration', String(duration)]);
  const connected = await next(client, 'connected', 300_000);
  server.send({ type: 'stats' });
  const loaded = (await next(server, 'stats', 10_000)) as unknown as { rss: number; heapUsed: number; clients: number };
  client.send({ type: 'go' });
  const result = await next(client, 'result', (duration + 120) * 1000);
  server.send({ type: 'stats' });
  const after = (await next(server, 'stats', 10_000)) as unknown as { rss: number; received: number; cpu: { user: number; system: number } };
  server.send({ type: 'close' });
  await next(server, 'closed', 30_000);
  console.log(`\n== connections: ${conns} concurrent, ${duration} s, 1 msg/s each ==`);
  console.log(`connected in ${connected.ms} ms; server sees ${loaded.clients} clients`);
  console.log(`server RSS idle ${mb(idle.rss)}, with connections ${mb(loaded.rss)}: ${((loaded.rss - idle.rss) / conns / 1024).toFixed(1)} KiB RSS/connection, ${((loaded.heapUsed - idle.heapUsed) / conns / 1024).toFixed(1)} KiB heap/connection`);
  console.log(`messages sent ${result.sent}, echoed ${result.got}, errors ${result.errors}`);
  console.log(`latency p50 ${Number(result.p50).toFixed(2)} ms, p99 ${Number(result.p99).toFixed(2)} ms, max ${Number(result.max).toFixed(2)} ms`);
  console.log(`client process CPU ${(Number(result.clientCpu) * 100).toFixed(0)}% of one core; server RSS after ${mb(after.rss)}`);
}

async function phaseChurn(): Promise<void> {
  const conns = opt('conns', 100);
  const messages = opt('messages', quick ? 200_000 : 2_000_000);
  const server = spawnRole('server');
  const { port } = (await next(server, 'ready', 10_000)) as unknown as { port: number };
  const client = spawnRole('clients', ['--phase', 'churn', '--port', String(port), '--conns', String(conns), '--messages', String(messages), '--churn', String(opt('churn', quick ? 1000 : 5000))]);
  const samples: Array<{ t: number; rss: number; heap: number; ab: number }> = [];
  const t0 = Date.now();
  const sampler = setInterval(() => server.send({ type: 'stats' }), 2000);
  server.on('message', (m: Msg) => {
    if (m.type === 'stats') samples.push({ t: (Date.now() - t0) / 1000, rss: m.rss as number, heap: m.heapUsed as number, ab: m.arrayBuffers as number });
  });
  client.on('message', (m: Msg) => {
    if (m.type === 'progress') process.stdout.write(`  churn: ${m.got}/${messages} echoed, ${m.reconnects} reconnects, ${m.errors} errors\r`);
  });
  const result = await next(client, 'result', 3_600_000);
  clearInterval(sampler);
  server.send({ type: 'stats' });
  const last = await next(server, 'stats', 10_000);
  server.send({ type: 'close' });
  await next(server, 'closed', 30_000);
  const q = Math.max(1, Math.floor(samples.length / 4));
  const firstQ = samples.slice(0, q);
  const lastQ = samples.slice(-q);
  const avg = (xs: typeof samples, k: 'rss' | 'heap' | 'ab'): number => xs.reduce((a, s) => a + s[k], 0) / Math.max(1, xs.length);
  console.log(`\n== churn: ${messages} messages over ${conns} connections, reconnecting every ${opt('churn', quick ? 1000 : 5000)} ==`);
  console.log(`sent ${result.sent}, echoed ${result.got}, server received ${last.received}, errors ${result.errors}, reconnects ${result.reconnects}, ${((result.ms as number) / 1000).toFixed(1)} s (${Math.round((result.got as number) / ((result.ms as number) / 1000))} msg/s round trips)`);
  console.log(`server heap first quarter ${mb(avg(firstQ, 'heap'))}, last quarter ${mb(avg(lastQ, 'heap'))}; RSS ${mb(avg(firstQ, 'rss'))} → ${mb(avg(lastQ, 'rss'))}; arrayBuffers ${mb(avg(firstQ, 'ab'))} → ${mb(avg(lastQ, 'ab'))}`);
  console.log(`samples (t s: heap / rss): ${samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 8)) === 0).map((s) => `${s.t.toFixed(0)}: ${mb(s.heap)} / ${mb(s.rss)}`).join('; ')}`);
  const accounted = result.sent === result.got && result.got === last.received;
  console.log(accounted ? 'every message accounted for' : 'MISMATCH: messages lost or duplicated');
}

async function phaseShutdown(): Promise<void> {
  const server = spawnRole('server');
  const { port } = (await next(server, 'ready', 10_000)) as unknown as { port: number };
  const conns = opt('conns', 200);
  const client = spawnRole('clients', ['--phase', 'shutdown', '--port', String(port), '--conns', String(conns)]);
  await next(client, 'flooding', 60_000);
  await new Promise((r) => setTimeout(r, quick ? 1000 : 3000));
  server.send({ type: 'close' });
  const closedMsg = await next(server, 'closed', 60_000);
  const result = await next(client, 'result', 60_000);
  console.log(`\n== shutdown under load: ${conns} flooding connections ==`);
  console.log(`server close() took ${closedMsg.ms} ms; server read ${closedMsg.received}, echoed while open ${closedMsg.echoedWhileOpen}; clients received ${result.received}`);
  console.log(`client close codes ${JSON.stringify(result.codes)}`);
  const ok = result.received === closedMsg.echoedWhileOpen && JSON.stringify(result.codes) === JSON.stringify({ 1001: conns });
  console.log(ok ? 'every client saw 1001 and every queued echo arrived' : 'MISMATCH');
}

async function main(): Promise<void> {
  const role = optStr('role', '');
  if (role === 'server') return serverRole();
  if (role === 'clients') return clientRole();
  const phase = optStr('phase', 'all');
  const t0 = Date.now();
  if (phase === 'all' || phase === 'connections') await phaseConnections();
  if (phase === 'all' || phase === 'churn') await phaseChurn();
  if (phase === 'all' || phase === 'shutdown') await phaseShutdown();
  console.log(`\nsoak done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  process.exit(0);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
