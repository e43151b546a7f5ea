// Shared helpers of the hardening suite (test/hardening) and the long fuzz run (scripts/fuzz.ts).
// Not a test file: jest only runs `*.test.ts`.
import { randomBytes } from 'crypto';
import * as net from 'net';
import * as v8 from 'v8';
import * as vm from 'vm';
import { Duplex } from 'stream';
import { FrameParser } from '../../src/codec/frame-parser';
import type { Frame } from '../../src/codec/frame';
import { WebSocket, WebSocketOptions } from '../../src/connection/websocket';

/** Rejects if `promise` has not settled within `ms`: no awaited promise may hang a test. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `predicate` every 5 ms until true; rejects after `ms`. */
export async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Condition not met within ${ms} ms: ${what}`);
    await sleep(5);
  }
}

let gcFn: (() => void) | null = null;
/** A full, synchronous garbage collection (enables --expose-gc at runtime when needed). */
export function gc(): void {
  if (gcFn === null) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === 'function') gcFn = g;
    else {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    }
  }
  gcFn();
  gcFn();
}

/** Heap plus ArrayBuffer memory after a full GC: what a connection really holds. */
export function liveBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** One frame as a client sends it (masked, fresh key). */
export function clientFrame(opcode: number, payload: Buffer | string = Buffer.alloc(0), fin = true, rsv1 = false): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  // Built by hand, independently of the encoder under test.
  const b0 = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f);
  const head = rawHeader(b0, BigInt(data.length), false);
  const key = randomBytes(4);
  const body = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) body[i] = (data[i] as number) ^ (key[i & 3] as number);
  head[1] = (head[1] as number) | 0x80;
  return Buffer.concat([head, key, body]);
}

/** A masked frame header with an arbitrary 7-bit/16-bit/64-bit length field, and no payload. */
export function rawHeader(b0: number, length: bigint, masked = true): Buffer {
  const maskBit = masked ? 0x80 : 0;
  let head: Buffer;
  if (length < 126n) head = Buffer.from([b0, maskBit | Number(length)]);
  else if (length < 0x10000n) {
    head = Buffer.from([b0, maskBit | 126, 0, 0]);
    head.writeUInt16BE(Number(length), 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(length, 2);
  }
  return masked ? Buffer.concat([head, Buffer.from([1, 2, 3, 4])]) : head;
}

/** Collects the frames a raw client socket receives from a server (unmasked). */
export class FrameSink {
  readonly frames: Frame[] = [];
  error: Error | null = null;
  private readonly parser = new FrameParser({ requireMask: false, maxPayload: 1 << 30 }, (f) => {
    this.frames.push({ ...f, payload: Buffer.from(f.payload) });
  });
  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.push(chunk);
      } catch (err) {
        this.error = err as Error;
      }
    });
  }
  /** The close code of the first Close frame received, or null. */
  closeCode(): number | null {
    const f = this.frames.find((x) => x.opcode === 0x8);
    if (f === undefined) return null;
    return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
  }
  count(opcode: number): number {
    return this.frames.filter((f) => f.opcode === opcode).length;
  }
}

/** Two loopback TCP sockets. */
export async function tcpPair(): Promise<{ a: net.Socket; b: net.Socket }> {
  const listener = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const b = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise<void>((resolve) => b.once('connect', resolve));
  const a = await accepted;
  listener.close();
  return { a, b };
}

/** A server-side WebSocket over loopback TCP and the raw client socket talking to it (no handshake). */
export async function rawClientPair(
  options: Partial<Omit<WebSocketOptions, 'isServer'>> = {},
): Promise<{ server: WebSocket; client: net.Socket; sink: FrameSink }> {
  const { a, b } = await tcpPair();
  b.on('error', () => undefined);
  const server = new WebSocket(a, Buffer.alloc(0), { isServer: true, ...options });
  return { server, client: b, sink: new FrameSink(b) };
}

/**
 * An in-memory socket: what the test `feed()`s arrives at the WebSocket in exactly those chunks, and
 * what the WebSocket writes is collected in `written`. No I/O, so chunk boundaries are deterministic.
 */
export class MemorySocket extends Duplex {
  readonly written: Buffer[] = [];
  constructor() {
    super({ allowHalfOpen: true });
  }
  feed(chunk: Buffer): void {
    this.push(chunk);
  }
  override _read(): void {
    /* data comes from feed() */
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.written.push(chunk);
    callback();
  }
  override _final(callback: (err?: Error | null) => void): void {
    callback();
  }
}

/** Active resources (sockets, servers, timers) by type, as process.getActiveResourcesInfo() reports them. */
export function activeResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

/** Waits until no more sockets/servers/timers are active than in `baseline` (they close asynchronously). */
export async function expectNoLeakedResources(baseline: Record<string, number>, ms = 3000): Promise<void> {
  const excess = (): string[] => {
    const now = activeResources();
    return Object.keys(now).filter(
      (k) => k !== 'TTYWrap' && k !== 'FSReqCallback' && (now[k] ?? 0) > (baseline[k] ?? 0),
    );
  };
  const deadline = Date.now() + ms;
  while (excess().length > 0 && Date.now() < deadline) await sleep(20);
  const left = excess();
  if (left.length > 0) {
    throw new Error(`Leaked resources: ${JSON.stringify(activeResources())} vs baseline ${JSON.stringify(baseline)}`);
  }
}
