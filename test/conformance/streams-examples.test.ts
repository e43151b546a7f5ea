// The streaming examples: the WebSocket-to-TCP relay and the bounded-memory file upload (1 GiB).
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Readable, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import { connect, createByteDuplex } from '../../src';
import type { CloseInfo, WebSocketServer } from '../../src';
import { startUploadServer, upload } from '../../examples/file-upload';
import { startRelay } from '../../examples/relay';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function own(server: WebSocketServer): void {
  cleanups.push(() => server.close());
}

/** A TCP server; `onSocket` gets each connection. */
async function tcpServer(onSocket: (s: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as net.AddressInfo).port;
}

describe('examples/relay.ts', () => {
  test('relays bytes both ways to a TCP echo server', async () => {
    const target = await tcpServer((s) => s.pipe(s));
    const { server, port } = await startRelay({ host: '127.0.0.1', target: { host: '127.0.0.1', port: target } });
    own(server);
    const ws = await connect(`ws://127.0.0.1:${port}/`);
    const bytes = createByteDuplex(ws);
    const payload = crypto.randomBytes(2 * 1024 * 1024);
    const received: Buffer[] = [];
    let total = 0;
    const done = new Promise<void>((resolve) => {
      bytes.on('data', (chunk: Buffer) => {
        received.push(chunk);
        total += chunk.length;
        if (total === payload.length) resolve();
      });
    });
    for (let i = 0; i < payload.length; i += 100_000) bytes.write(payload.subarray(i, i + 100_000));
    await done;
    expect(Buffer.concat(received).equals(payload)).toBe(true);
    const closed = new Promise<CloseInfo>((r) => ws.once('close', r));
    bytes.end();
    expect((await closed).code).toBe(1000);
  });

  test('the target closing its side closes the WebSocket with 1000 after the last bytes', async () => {
    const target = await tcpServer((s) => s.end('greeting and goodbye'));
    const { server, port } = await startRelay({ host: '127.0.0.1', target: { host: '127.0.0.1', port: target } });
    own(server);
    const ws = await connect(`ws://127.0.0.1:${port}/`);
    const closed = new Promise<CloseInfo>((r) => ws.once('close', r));
    const chunks: Buffer[] = [];
    await pipeline(
      createByteDuplex(ws),
      new Writable({
        write(c: Buffer, _e, cb) {
          chunks.push(c);
          cb();
        },
      }),
    );
    expect(Buffer.concat(chunks).toString()).toBe('greeting and goodbye');
    expect((await closed).code).toBe(1000);
  });

  test('an unreachable target closes the WebSocket with 1014 (Bad Gateway)', async () => {
    const unused = await tcpServer(() => undefined);
    await new Promise((r) => setTimeout(r, 0));
    // Close that server so its port refuses connections.
    await (cleanups.pop() as () => Promise<void>)();
    const { server, port } = await startRelay({ host: '127.0.0.1', target: { host: '127.0.0.1', port: unused } });
    own(server);
    const ws = await connect(`ws://127.0.0.1:${port}/`);
    const info = await new Promise<CloseInfo>((r) => ws.once('close', r));
    expect(info.code).toBe(1014);
    expect(info.reason).toMatch(/ECONNREFUSED/);
  });
});

describe('examples/file-upload.ts', () => {
  test('uploads a file and gets its size and hash back', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflow-upload-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'in.bin');
    const content = crypto.randomBytes(5 * 1024 * 1024 + 3);
    fs.writeFileSync(file, content);
    const outDir = path.join(dir, 'out');
    fs.mkdirSync(outDir);
    const { server, port } = await startUploadServer({ host: '127.0.0.1', dir: outDir });
    own(server);
    const receipt = await upload(`ws://127.0.0.1:${port}/`, file);
    expect(receipt).toEqual({ bytes: content.length, sha256: crypto.createHash('sha256').update(content).digest('hex') });
    const [written] = fs.readdirSync(outDir);
    expect(fs.readFileSync(path.join(outDir, written as string)).equals(content)).toBe(true);
  });

  test('streams 1 GiB with bounded memory (RSS growth < 200 MiB)', async () => {
    const SIZE = 1024 * 1024 * 1024;
    const CHUNK = 256 * 1024;
    // The server writes to the null device: the point is the memory of the pipeline, not the disk.
    const { server, port } = await startUploadServer({ host: '127.0.0.1', open: () => fs.createWriteStream(os.devNull) });
    own(server);
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const expected = crypto.createHash('sha256');
    let sent = 0;
    const generated = new Readable({
      highWaterMark: CHUNK,
      read() {
        if (sent >= SIZE) {
          this.push(null);
          return;
        }
        const chunk = Buffer.alloc(CHUNK, (sent / CHUNK) & 0xff);
        chunk.writeUInt32BE(sent / CHUNK, 0);
        sent += CHUNK;
        expected.update(chunk);
        this.push(chunk);
      },
    });
    try {
      const receipt = await upload(`ws://127.0.0.1:${port}/`, generated);
      expect(receipt).toEqual({ bytes: SIZE, sha256: expected.digest('hex') });
    } finally {
      clearInterval(sampler);
    }
    const growthMiB = (peak - baseline) / (1024 * 1024);
    expect(growthMiB).toBeLessThan(200);
  }, 180_000);
});
