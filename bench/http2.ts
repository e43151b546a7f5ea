/**
 * WebSockets over HTTP/2 (RFC 8441) against HTTP/1.1, both over TLS on loopback, server and client in
 * this one process (so the figures are the sum of both ends' CPU: compare ratios, not absolute rates).
 *
 *   npm run bench:http2                  both benchmarks
 *   npm run bench:http2 -- --quick       shorter windows, fewer cells
 *
 * 1. Opening the 2nd…100th WebSocket to one origin: h2 (one pooled session, a stream each) against
 *    HTTP/1.1 (a TCP and TLS handshake each). Time per open, sequential.
 * 2. Echo throughput with 1, 10 and 100 WebSockets: streams of one h2 session against as many HTTP/1.1
 *    TLS connections, 64 B to 64 KiB, each WebSocket doing ping-pong with a window of 8 messages.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as http2 from 'http2';
import * as https from 'https';
import type * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { connect, WebSocketServer, type WebSocket } from '../src';

const QUICK = process.argv.includes('--quick');
const OPENS = 100;
const WINDOW = 8;
const DURATION_MS = QUICK ? 700 : 2000;

function certificate(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflow-bench-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', path.join(dir, 'k'), '-out', path.join(dir, 'c'), '-days', '1'], { stdio: 'ignore' });
    return { key: fs.readFileSync(path.join(dir, 'k'), 'utf8'), cert: fs.readFileSync(path.join(dir, 'c'), 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function echo(ws: WebSocket): void {
  ws.on('message', (data: Buffer, type) => void ws.writeMessage(data, type).catch(() => undefined));
}

interface Servers {
  h2Url: string;
  h1Url: string;
  close(): Promise<void>;
}

async function startServers(tlsMaterial: { key: string; cert: string }): Promise<Servers> {
  const h2 = http2.createSecureServer(tlsMaterial);
  const h2wss = new WebSocketServer({ http2: h2 }, echo);
  const h1 = https.createServer(tlsMaterial);
  const h1wss = new WebSocketServer({ server: h1 }, echo);
  const listen = (s: net.Server): Promise<number> =>
    new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port)));
  const [p2, p1] = await Promise.all([listen(h2), listen(h1)]);
  return {
    h2Url: `wss://127.0.0.1:${p2}/`,
    h1Url: `wss://127.0.0.1:${p1}/`,
    close: async () => {
      await Promise.all([h2wss.close(), h1wss.close()]);
      h1.closeAllConnections();
      await Promise.all([new Promise((r) => h2.close(r)), new Promise((r) => h1.close(r))]);
    },
  };
}

const TLS = { rejectUnauthorized: false };

/** Mean milliseconds per open of the 2nd..OPENS-th WebSocket, opened one after the other. */
async function timeOpens(url: string, http2Option: boolean): Promise<number> {
  const open: WebSocket[] = [await connect(url, { ...TLS, http2: http2Option })];
  const start = process.hrtime.bigint();
  for (let i = 1; i < OPENS; i++) open.push(await connect(url, { ...TLS, http2: http2Option }));
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / (OPENS - 1);
  await Promise.all(open.map((ws) => ws.close(1000)));
  return ms;
}

/** Messages per second echoed by `count` WebSockets doing windowed ping-pong of `size`-byte messages. */
async function echoRate(url: string, http2Option: boolean, count: number, size: number): Promise<number> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i++) sockets.push(await connect(url, { ...TLS, http2: http2Option }));
  const payload = Buffer.alloc(size, 0x61);
  let received = 0;
  let running = true;
  const done = sockets.map(
    (ws) =>
      new Promise<void>((resolve) => {
        let inflight = 0;
        const pump = (): void => {
          while (running && inflight < WINDOW) {
            inflight++;
            void ws.writeMessage(payload).catch(() => undefined);
          }
          if (!running && inflight === 0) resolve();
        };
        ws.on('message', () => {
          inflight--;
          received++;
          pump();
        });
        pump();
      }),
  );
  // Warm-up, then the measured window.
  await new Promise((r) => setTimeout(r, DURATION_MS / 4));
  const before = received;
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  const rate = ((received - before) * 1e9) / Number(process.hrtime.bigint() - start);
  running = false;
  await Promise.race([Promise.all(done), new Promise((r) => setTimeout(r, 5000))]);
  await Promise.all(sockets.map((ws) => ws.close(1000)));
  return rate;
}

async function main(): Promise<void> {
  const servers = await startServers(certificate());
  try {
    console.log(`# wsflow over HTTP/2 vs HTTP/1.1 (TLS, loopback, one process); node ${process.version}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const h1Open = await timeOpens(servers.h1Url, false);
    const h2Open = await timeOpens(servers.h2Url, true);
    console.log(`\nopen the 2nd..${OPENS}th WebSocket: HTTP/1.1+TLS ${h1Open.toFixed(3)} ms, h2 stream ${h2Open.toFixed(3)} ms => h2 is ${(h1Open / h2Open).toFixed(2)}x faster`);

    console.log(`\necho, windowed ping-pong (${WINDOW} in flight per WebSocket), messages/s:`);
    console.log('sockets  size     HTTP/1.1      h2   h2/HTTP1.1');
    const counts = QUICK ? [1, 10] : [1, 10, 100];
    const sizes = QUICK ? [64, 1024] : [64, 1024, 16 * 1024, 64 * 1024];
    for (const count of counts) {
      for (const size of sizes) {
        const h1 = await echoRate(servers.h1Url, false, count, size);
        const h2 = await echoRate(servers.h2Url, true, count, size);
        console.log(`${String(count).padStart(7)}  ${String(size).padStart(5)}  ${h1.toFixed(0).padStart(9)}  ${h2.toFixed(0).padStart(7)}   ${(h2 / h1).toFixed(2)}x`);
      }
    }
    console.log(`\nload after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    await servers.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
