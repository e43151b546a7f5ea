// The raw-socket conformance driver (Autobahn-TestSuite spirit, RFC 6455 §5–§7).
//
// A RawPeer is the far end of one WebSocket connection, written by hand: it performs (or answers) the
// opening handshake itself, sends exact bytes — in one write, one byte per write, or at seeded random
// split points — and records exactly what wsflow sends back, frame by frame and down to the TCP FIN.
//
// Both roles of wsflow are driven the same way:
//  - role 'server': wsflow is an echo WebSocketServer; the RawPeer is a raw `net` client that writes the
//    upgrade request by hand, masks what it sends, and requires every frame it receives to be unmasked.
//  - role 'client': wsflow is a `connect()`ed client running the same echo loop; the RawPeer is a raw
//    `net` server that answers the upgrade by hand, sends unmasked frames, and requires every frame it
//    receives to be masked (a frame that is not is reported as a protocol error of wsflow's).
// and over both transports:
//  - 'http1': one TCP connection per WebSocket, opened by an HTTP/1.1 upgrade (RFC 6455 §4).
//  - 'h2': one extended CONNECT stream per WebSocket (RFC 8441), all on one h2c session. The RawPeer is
//    a raw node http2 client stream (server role; wsflow is `WebSocketServer({ http2 })`) or the server
//    end of the stream on a raw node http2 server (client role; wsflow is `connect(url, { http2: session })`).
//    The TCP FIN's analogue is END_STREAM, a lost TCP connection's a RST_STREAM (or the session lost).
//
// Every wait has a deadline and fails with a message that says what was awaited and what came instead.
// Random splits are reproducible: the seed is derived from WSFLOW_CONFORMANCE_SEED (default 0x5eed)
// and the test's name, and it is printed in every failure.
import { createHash } from 'crypto';
import type * as http2 from 'http2';
import * as net from 'net';
import type { Duplex } from 'stream';
import { FrameParser } from '../../src/codec/frame-parser';
import type { Frame } from '../../src/codec/frame';
import { connect, type ConnectOptions } from '../../src/handshake/client';
import type { UpgraderOptions } from '../../src/handshake/server';
import type { WebSocket } from '../../src/connection/websocket';
import { WebSocketServer } from '../../src/server';
import { connectHeaders, openSession, startH2Server, type H2Server } from '../helpers/http2';

// ---- constants ----------------------------------------------------------------------------------

export const OP = {
  CONT: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** wsflow's role in the connection under test. */
export type Role = 'server' | 'client';
export const ROLES: readonly Role[] = ['server', 'client'];

/** What a connection runs over: an HTTP/1.1 upgrade on TCP, or an HTTP/2 extended CONNECT stream (h2c). */
export type Transport = 'http1' | 'h2';
export const TRANSPORTS: readonly Transport[] = ['http1', 'h2'];
/** The names test titles use ("wsflow as server over HTTP/2"); docs/conformance.md counts by them. */
export const TRANSPORT_NAMES: Readonly<Record<Transport, string>> = { http1: 'HTTP/1.1', h2: 'HTTP/2' };

/**
 * How bytes are handed to the socket: `whole` in one write; `bytes` one byte per write (each write
 * flushed and a turn of the event loop let pass, so the peer reads them one at a time); `random` at
 * seeded random split points, each piece flushed likewise.
 */
export type WriteMode = 'whole' | 'bytes' | 'random';
/** A write mode, or explicit split points (byte offsets into the concatenated input). */
export type Chopping = WriteMode | { cuts: readonly number[] };
export const WRITE_MODES: readonly WriteMode[] = ['whole', 'bytes', 'random'];

/** Default deadline of every wait, in milliseconds. */
export const DEADLINE = 5000;

// Streams one HTTP/2 client session carries before the harness starts a new one (see closeConnections).
const STREAMS_PER_SESSION = 500;

/** How long "nothing more arrives" is watched for. */
export const QUIET = 150;

const BASE_SEED = Number(process.env.WSFLOW_CONFORMANCE_SEED ?? 0x5eed) >>> 0;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
// The largest input `bytes` mode will chop up (it costs an event-loop turn per byte).
const BYTES_MODE_LIMIT = 256 * 1024;

// ---- small helpers ------------------------------------------------------------------------------

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** mulberry32: a tiny seeded PRNG, so random split points are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function currentTestName(): string {
  try {
    return expect.getState().currentTestName ?? '';
  } catch {
    return '';
  }
}

/** Splits `bytes` at `cuts` (any order, out-of-range and duplicate cuts ignored). */
export function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out;
}

/** Splits `bytes` into `n` pieces of near-equal size (some may be empty when n > length). */
export function splitEven(bytes: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    out.push(bytes.subarray(Math.floor((i * bytes.length) / n), Math.floor(((i + 1) * bytes.length) / n)));
  }
  return out;
}

/** Deterministic payload bytes of any length. */
export function pattern(length: number, salt = 0): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + salt * 7 + (i >>> 8)) & 0xff;
  return b;
}

/** Deterministic valid UTF-8 of exactly `length` bytes, mixing 1-, 2-, 3- and 4-byte characters. */
export function utf8Text(length: number): Buffer {
  const block = Buffer.from('aµκó€😀Z𝄞ß ', 'utf8');
  const out = Buffer.allocUnsafe(length);
  const whole = length - (length % block.length);
  for (let i = 0; i < whole; i += block.length) block.copy(out, i);
  out.fill(0x78, whole); // 'x' for the tail, so no character is cut
  return out;
}

function describeFrame(f: Frame): string {
  const name =
    ({ 0: 'CONT', 1: 'TEXT', 2: 'BINARY', 8: 'CLOSE', 9: 'PING', 10: 'PONG' } as Record<number, string>)[f.opcode] ??
    `OP${f.opcode}`;
  let body: string;
  if (f.opcode === OP.CLOSE && f.payload.length >= 2) {
    body = `code=${f.payload.readUInt16BE(0)} reason=${JSON.stringify(f.payload.subarray(2).toString('utf8'))}`;
  } else if (f.payload.length <= 24) {
    body = `len=${f.payload.length} ${f.payload.toString('hex')}`;
  } else {
    body = `len=${f.payload.length} ${f.payload.subarray(0, 16).toString('hex')}…`;
  }
  return `${name}${f.fin ? '' : '(fin=0)'}${f.rsv1 || f.rsv2 || f.rsv3 ? '(rsv)' : ''} ${body}`;
}

// ---- building frames ----------------------------------------------------------------------------

export interface FrameOptions {
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** Mask the payload. Defaults to what the sender's role requires (clients mask, servers do not). */
  mask?: boolean;
  /** The masking key (4 bytes); defaults to a seeded one. */
  maskKey?: Buffer;
  /** Override the payload length written in the header (the payload bytes stay as given). */
  declaredLength?: number;
}

/**
 * Encodes one frame by hand (RFC 6455 §5.2), independent of wsflow's own serializer: minimal length
 * encoding, masking key after the length, payload XORed with the key when masked.
 */
export function encodeFrame(opcode: number, payload: Uint8Array | string, masked: boolean, opts: FrameOptions = {}, key?: Buffer): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  const length = opts.declaredLength ?? data.length;
  const b0 =
    ((opts.fin ?? true) ? 0x80 : 0) | (opts.rsv1 ? 0x40 : 0) | (opts.rsv2 ? 0x20 : 0) | (opts.rsv3 ? 0x10 : 0) | (opcode & 0x0f);
  let header: Buffer;
  if (length < 126) {
    header = Buffer.from([b0, length]);
  } else if (length < 0x10000) {
    header = Buffer.from([b0, 126, length >>> 8, length & 0xff]);
  } else {
    header = Buffer.alloc(10);
    header[0] = b0;
    header[1] = 127;
    header.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    header.writeUInt32BE(length >>> 0, 6);
  }
  if (!masked) return Buffer.concat([header, data]);
  header[1] |= 0x80;
  const mask = opts.maskKey ?? key ?? Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  xorMask(data, mask);
  return Buffer.concat([header, mask, data]);
}

/** XORs `data` in place with a 4-byte key (RFC 6455 §5.3). */
export function xorMask(data: Buffer, mask: Uint8Array): void {
  const n = data.length;
  let i = 0;
  if (n >= 64) {
    const key32 = Buffer.from([mask[0], mask[1], mask[2], mask[3]]).readInt32LE(0);
    for (; i + 4 <= n; i += 4) data.writeInt32LE(data.readInt32LE(i) ^ key32, i);
  }
  for (; i < n; i++) data[i] ^= mask[i & 3];
}

/** A Close payload: status code and reason; `code` undefined gives an empty payload. */
export function closePayload(code?: number, reason: string | Buffer = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason]);
}

// ---- the raw peer -------------------------------------------------------------------------------

export interface ReceivedMessage {
  opcode: number;
  payload: Buffer;
}

/** The hand-written far end of one connection. */
export class RawPeer {
  /** True when this peer is the client (so it masks and wsflow is the server). */
  readonly isClient: boolean;
  // Frames received and not yet consumed: queue[head…]. A head index, not shift(): floods queue 100,000 frames.
  private readonly queue: Frame[] = [];
  private head = 0;
  /** Every frame received, consumed or not. */
  readonly received: Frame[] = [];
  /** The first frame wsflow sent that violates RFC 6455 (parsed in this peer's role), if any. */
  parseError: Error | null = null;
  socketError: Error | null = null;
  /** wsflow half-closed the TCP connection (FIN received), or ended its HTTP/2 stream (END_STREAM). */
  ended = false;
  /** The TCP connection (or the HTTP/2 stream) is gone. */
  closed = false;
  /** The seed of this peer's random split points. */
  readonly seed: number;
  /** Every raw byte received after the handshake, when `captureRaw` was set. */
  readonly raw: Buffer[] = [];

  private readonly socket: Duplex;
  private readonly parser: FrameParser;
  private readonly rand: () => number;
  private readonly watchers = new Set<() => void>();
  private readonly captureRaw: boolean;

  /** `socket` is a TCP socket, or an HTTP/2 stream (either end of an extended CONNECT). */
  constructor(socket: Duplex, isClient: boolean, leftover: Buffer, opts: { captureRaw?: boolean } = {}) {
    this.socket = socket;
    this.isClient = isClient;
    this.captureRaw = opts.captureRaw ?? false;
    this.seed = (BASE_SEED ^ hashString(currentTestName())) >>> 0;
    this.rand = prng(this.seed);
    // A client must receive unmasked frames, a server masked ones (RFC 6455 §5.1).
    this.parser = new FrameParser({ requireMask: !isClient, maxPayload: 2 ** 31 }, (frame) => {
      const copy: Frame = { ...frame, payload: Buffer.from(frame.payload) };
      this.queue.push(copy);
      this.received.push(copy);
      this.notify();
      return true;
    });
    if (socket instanceof net.Socket) socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', (err) => {
      this.socketError ??= err;
      this.notify();
    });
    if (leftover.length > 0) this.onData(leftover);
  }

  /** Over HTTP/2: the RST_STREAM code the stream closed with (0 after a clean close); undefined over TCP. */
  get rstCode(): number | undefined {
    const code = (this.socket as Partial<http2.Http2Stream>).rstCode;
    return typeof code === 'number' ? code : undefined;
  }

  /** Frames received and not yet consumed by an expectation. */
  get inbox(): readonly Frame[] {
    return this.head === 0 ? this.queue : this.queue.slice(this.head);
  }

  private take(): Frame | undefined {
    if (this.head === this.queue.length) return undefined;
    const frame = this.queue[this.head++];
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return frame;
  }

  /** Context for failure messages. */
  get context(): string {
    const frames = this.received.map(describeFrame).join(' | ') || 'none';
    const problems = [this.parseError ? `wsflow sent an invalid frame: ${this.parseError.message}` : '', this.socketError ? `socket error: ${this.socketError.message}` : '']
      .filter(Boolean)
      .join('; ');
    return `[wsflow as ${this.isClient ? 'server' : 'client'}; seed ${this.seed}] frames received: ${frames}; transport: ${this.closed ? `closed${this.rstCode ? ` (RST_STREAM ${this.rstCode})` : ''}` : this.ended ? 'FIN received' : 'open'}${problems ? `; ${problems}` : ''}`;
  }

  // ---- frames to send ----

  /** One frame as this peer must send it: masked with a seeded key when it is the client. */
  frame(opcode: number, payload: Uint8Array | string = Buffer.alloc(0), opts: FrameOptions = {}): Buffer {
    const masked = opts.mask ?? this.isClient;
    const key = Buffer.from([0, 0, 0, 0].map(() => Math.floor(this.rand() * 256)));
    return encodeFrame(opcode, payload, masked, opts, key);
  }
  text(payload: Uint8Array | string, opts?: FrameOptions): Buffer {
    return this.frame(OP.TEXT, payload, opts);
  }
  binary(payload: Uint8Array | string, opts?: FrameOptions): Buffer {
    return this.frame(OP.BINARY, payload, opts);
  }
  cont(payload: Uint8Array | string, opts?: FrameOptions): Buffer {
    return this.frame(OP.CONT, payload, opts);
  }
  ping(payload: Uint8Array | string = Buffer.alloc(0), opts?: FrameOptions): Buffer {
    return this.frame(OP.PING, payload, opts);
  }
  pong(payload: Uint8Array | string = Buffer.alloc(0), opts?: FrameOptions): Buffer {
    return this.frame(OP.PONG, payload, opts);
  }
  close(code?: number, reason: string | Buffer = '', opts?: FrameOptions): Buffer {
    return this.frame(OP.CLOSE, closePayload(code, reason), opts);
  }
  /** A message as 1…n frames: the first with `opcode`, the rest continuations, FIN on the last. */
  fragments(opcode: number, pieces: readonly Uint8Array[]): Buffer[] {
    return pieces.map((piece, i) => this.frame(i === 0 ? opcode : OP.CONT, piece, { fin: i === pieces.length - 1 }));
  }

  // ---- sending ----

  /** Writes `data` (frames are concatenated) in the given mode; resolves when it was all handed to the kernel. */
  async send(data: Buffer | readonly Buffer[], mode: Chopping = 'whole'): Promise<void> {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
    if (bytes.length === 0) return;
    let pieces: Buffer[];
    if (typeof mode === 'object') {
      pieces = splitAt(bytes, mode.cuts);
    } else if (mode === 'whole') {
      pieces = [bytes];
    } else if (mode === 'bytes') {
      if (bytes.length > BYTES_MODE_LIMIT) throw new Error(`'bytes' mode is for inputs up to ${BYTES_MODE_LIMIT} bytes, got ${bytes.length}`);
      pieces = splitAt(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1));
    } else {
      const count = Math.min(bytes.length - 1, 1 + Math.floor(this.rand() * 24));
      pieces = splitAt(bytes, Array.from({ length: count }, () => 1 + Math.floor(this.rand() * (bytes.length - 1))));
    }
    for (let i = 0; i < pieces.length; i++) {
      if (this.socket.destroyed || !this.socket.writable) return;
      await this.write(pieces[i]);
      // Let wsflow (same event loop) read this piece on its own before the next one.
      if (pieces.length > 1) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private write(bytes: Buffer): Promise<void> {
    return new Promise<void>((resolve) => {
      this.socket.write(bytes, () => resolve());
    });
  }

  /** Half-closes the TCP connection (FIN), or ends the HTTP/2 stream (END_STREAM). */
  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  /** Drops the TCP connection, or resets the HTTP/2 stream (RST_STREAM). */
  destroy(): void {
    this.socket.destroy();
  }

  // ---- expectations ----

  /** Resolves with `check()`'s first non-undefined value, re-evaluated on every event; rejects at the deadline. */
  waitFor<T>(what: string, check: () => T | undefined, timeout = DEADLINE): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const evaluate = (): boolean => {
        let value: T | undefined;
        try {
          value = check();
        } catch (err) {
          finish();
          reject(err instanceof Error ? new Error(`${err.message}\n  ${this.context}`) : err);
          return true;
        }
        if (value === undefined) return false;
        finish();
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`Timed out after ${timeout} ms waiting for ${what}\n  ${this.context}`));
      }, timeout);
      const finish = (): void => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
      };
      const watcher = (): void => {
        evaluate();
      };
      if (evaluate()) return;
      this.watchers.add(watcher);
    });
  }

  /** The next frame received (any kind). */
  nextFrame(what = 'a frame', timeout = DEADLINE): Promise<Frame> {
    return this.waitFor(what, () => {
      const next = this.take();
      if (next !== undefined) return next;
      this.throwIfBroken(what);
      return undefined;
    }, timeout);
  }

  /** The next data message, reassembled from its frames; any control frame before its end is a failure. */
  async nextMessage(what = 'a data message', timeout = DEADLINE): Promise<ReceivedMessage> {
    const first = await this.nextFrame(what, timeout);
    if (first.opcode !== OP.TEXT && first.opcode !== OP.BINARY) {
      throw new Error(`Expected ${what}, got ${describeFrame(first)}\n  ${this.context}`);
    }
    const parts = [first.payload];
    let last = first;
    while (!last.fin) {
      last = await this.nextFrame(`the continuation of ${what}`, timeout);
      if (last.opcode !== OP.CONT) throw new Error(`Expected a continuation of ${what}, got ${describeFrame(last)}\n  ${this.context}`);
      parts.push(last.payload);
    }
    return { opcode: first.opcode, payload: Buffer.concat(parts) };
  }

  /** The next message must be the echo of (opcode, payload). */
  async expectEcho(opcode: number, payload: Uint8Array | string, timeout = DEADLINE): Promise<void> {
    const want = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
    const what = `the echo of a ${want.length}-byte ${opcode === OP.TEXT ? 'text' : 'binary'} message`;
    const got = await this.nextMessage(what, timeout);
    if (got.opcode !== opcode || !got.payload.equals(want)) {
      const show = (b: Buffer): string => (b.length <= 32 ? b.toString('hex') : `${b.length} bytes ${b.subarray(0, 16).toString('hex')}…`);
      throw new Error(
        `Expected ${what}: opcode ${opcode} ${show(want)}; got opcode ${got.opcode} ${show(got.payload)}\n  ${this.context}`,
      );
    }
  }

  /** The next frame must be a control frame of `opcode` with exactly `payload`. */
  async expectControl(opcode: number, payload: Uint8Array | string, timeout = DEADLINE): Promise<void> {
    const want = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
    const what = `${opcode === OP.PONG ? 'a Pong' : `opcode ${opcode}`} with payload ${want.toString('hex') || '(empty)'}`;
    const f = await this.nextFrame(what, timeout);
    if (f.opcode !== opcode || !f.payload.equals(want) || !f.fin) {
      throw new Error(`Expected ${what}, got ${describeFrame(f)}\n  ${this.context}`);
    }
  }

  /**
   * The next `expected.length` frames must be exactly these (whole, unfragmented frames), in any order:
   * for replies whose relative order the RFC leaves open (a Pong may overtake an echo).
   */
  async expectUnordered(expected: ReadonlyArray<{ opcode: number; payload: Uint8Array | string }>, timeout = DEADLINE): Promise<void> {
    const key = (opcode: number, payload: Uint8Array | string): string =>
      `${opcode}:${(typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload)).toString('hex')}`;
    const want = expected.map((e) => key(e.opcode, e.payload)).sort();
    const got: string[] = [];
    for (let i = 0; i < expected.length; i++) {
      const f = await this.nextFrame(`${expected.length - i} more of ${expected.length} replies`, timeout);
      got.push(key(f.opcode, f.payload) + (f.fin ? '' : ':fin=0'));
    }
    got.sort();
    if (got.join() !== want.join()) throw new Error(`Expected frames ${want.join(' ')}, got ${got.join(' ')}\n  ${this.context}`);
  }

  /**
   * The next frame must be a Close: with status `code`, or with an empty payload when `code` is null.
   * Returns the code and reason received.
   */
  async expectClose(code: number | null, timeout = DEADLINE): Promise<{ code: number | null; reason: string }> {
    const what = code === null ? 'a Close frame without a status code' : `a Close frame with code ${code}`;
    const f = await this.nextFrame(what, timeout);
    if (f.opcode !== OP.CLOSE) throw new Error(`Expected ${what}, got ${describeFrame(f)}\n  ${this.context}`);
    const got = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null;
    if (f.payload.length === 1 || got !== code) throw new Error(`Expected ${what}, got ${describeFrame(f)}\n  ${this.context}`);
    const reason = f.payload.subarray(2);
    if (!Buffer.from(reason.toString('utf8'), 'utf8').equals(reason)) {
      throw new Error(`The Close reason wsflow sent is not valid UTF-8: ${reason.toString('hex')}\n  ${this.context}`);
    }
    return { code: got, reason: reason.toString('utf8') };
  }

  /** wsflow half-closes or closes the TCP connection within the deadline. */
  expectTcpClose(timeout = DEADLINE): Promise<void> {
    return this.waitFor('wsflow to close the TCP connection', () => {
      if (this.parseError) throw this.parseError;
      return this.ended || this.closed ? true : undefined;
    }, timeout).then(() => undefined);
  }

  /** The connection is failed: a Close with `code` (and nothing before it), then the TCP close. */
  async expectFailure(code: number, timeout = DEADLINE): Promise<void> {
    await this.expectClose(code, timeout);
    await this.expectTcpClose(timeout);
  }

  /** Nothing at all arrives for `ms` milliseconds (checked against the inbox, the parser and the TCP state). */
  async expectQuiet(ms = QUIET, what = 'nothing'): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.inbox.length > 0 || this.parseError) {
      throw new Error(`Expected ${what} within ${ms} ms, but got ${this.inbox.map(describeFrame).join(' | ') || this.parseError?.message}\n  ${this.context}`);
    }
  }

  /** No more frames are pending or arrive (the TCP state is not considered). */
  expectInboxEmpty(): void {
    if (this.inbox.length > 0 || this.parseError) {
      throw new Error(`Unexpected frames: ${this.inbox.map(describeFrame).join(' | ') || this.parseError?.message}\n  ${this.context}`);
    }
  }

  private throwIfBroken(what: string): void {
    if (this.parseError) throw new Error(`wsflow sent an invalid frame while waiting for ${what}: ${this.parseError.message}`);
    if (this.closed || this.ended) throw new Error(`The TCP connection ${this.closed ? 'closed' : 'was half-closed by wsflow'} while waiting for ${what}`);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.captureRaw) this.raw.push(Buffer.from(chunk));
    if (this.parseError) return;
    try {
      this.parser.push(chunk);
    } catch (err) {
      this.parseError = err as Error;
    }
    this.notify();
  };

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }
}

// ---- the raw handshake --------------------------------------------------------------------------

/** Reads from `socket` until the end of an HTTP head; resolves with the head and the bytes after it. */
function readHead(socket: net.Socket, what: string, timeout = DEADLINE): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      cleanup();
      socket.pause();
      resolve({ head: buffered.subarray(0, end).toString('latin1'), rest: buffered.subarray(end + 4) });
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`The connection closed before ${what} was complete: ${JSON.stringify(buffered.toString('latin1'))}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Timed out after ${timeout} ms waiting for ${what}: ${JSON.stringify(buffered.toString('latin1'))}`));
    }, timeout);
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

function headerOf(head: string, name: string): string | undefined {
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0 && line.slice(0, i).trim().toLowerCase() === name) return line.slice(i + 1).trim();
  }
  return undefined;
}

/** Opens a raw client connection and performs the upgrade by hand; the 101 must be valid. */
async function rawUpgrade(
  port: number,
  path: string,
  opts: { captureRaw?: boolean; withRequest?: Buffer },
  onConnected: (localPort: number) => void,
): Promise<RawPeer> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Timed out connecting to 127.0.0.1:${port}`)), DEADLINE);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  onConnected(socket.localPort ?? 0);
  const key = Buffer.from(pattern(16, socket.localPort ?? 0)).toString('base64');
  const request = Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    'latin1',
  );
  socket.write(Buffer.concat([request, opts.withRequest ?? Buffer.alloc(0)]));
  const { head, rest } = await readHead(socket, 'the 101 answer');
  const status = head.split('\r\n')[0];
  if (!/^HTTP\/1\.1 101 /.test(status)) throw new Error(`Expected a 101 answer, got ${JSON.stringify(head)}`);
  if (headerOf(head, 'sec-websocket-accept') !== acceptKey(key)) {
    throw new Error(`Wrong Sec-WebSocket-Accept in ${JSON.stringify(head)}`);
  }
  const peer = new RawPeer(socket, true, rest, opts);
  socket.resume();
  return peer;
}

// ---- the HTTP/2 handshake (RFC 8441) ------------------------------------------------------------

/** The header that tells the server-role harness which raw stream a wsflow connection belongs to. */
const CONN_ID_HEADER = 'x-conformance-id';

/**
 * Sends an extended CONNECT on `session` (and `early` bytes right behind its HEADERS, before any answer)
 * and resolves with the stream once a valid answer came: ':status' 200, and none of the HTTP/1.1-only
 * headers (RFC 8441 §5: no Sec-WebSocket-Accept).
 */
function h2Open(session: http2.ClientHttp2Session, id: number, early: Buffer | undefined): Promise<http2.ClientHttp2Stream> {
  return new Promise((resolve, reject) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(connectHeaders('/echo', { [CONN_ID_HEADER]: String(id) }), { endStream: false });
    } catch (err) {
      reject(err as Error);
      return;
    }
    stream.on('error', () => undefined);
    // Written in the same tick as the request, so nghttp2 sends it in the same batch as the HEADERS.
    if (early !== undefined && early.length > 0) stream.write(early);
    const timer = setTimeout(() => reject(new Error('Timed out waiting for the answer to the extended CONNECT')), DEADLINE);
    const onClose = (): void => {
      clearTimeout(timer);
      reject(new Error(`The CONNECT stream closed before an answer (RST_STREAM ${stream.rstCode})`));
    };
    stream.once('close', onClose);
    stream.once('response', (headers) => {
      clearTimeout(timer);
      stream.removeListener('close', onClose);
      if (headers[':status'] !== 200) {
        reject(new Error(`Expected ':status' 200 to the extended CONNECT, got ${JSON.stringify(headers)}`));
        return;
      }
      const misplaced = ['sec-websocket-accept', 'upgrade', 'connection'].find((name) => headers[name] !== undefined);
      if (misplaced !== undefined) {
        reject(new Error(`The answer to the extended CONNECT carries ${misplaced} (RFC 8441 §5): ${JSON.stringify(headers)}`));
        return;
      }
      resolve(stream);
    });
  });
}

/** RFC 8441 §4/§5's checks on wsflow's extended CONNECT; the reason it is wrong, or undefined. */
function checkConnectRequest(headers: http2.IncomingHttpHeaders): string | undefined {
  if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') return 'not an extended CONNECT with :protocol websocket';
  if (headers[':path'] !== '/echo' || headers[':scheme'] !== 'http' || typeof headers[':authority'] !== 'string') return 'wrong :path, :scheme or :authority';
  if (headers['sec-websocket-version'] !== '13') return 'sec-websocket-version is not 13';
  for (const name of ['sec-websocket-key', 'upgrade', 'connection', 'host']) if (headers[name] !== undefined) return `it carries ${name}`;
  return undefined;
}

// ---- harnesses: wsflow echo endpoints with raw peers --------------------------------------------

/** The echo loop both roles run: every message back with its type, until the connection ends. */
export async function echo(ws: WebSocket): Promise<void> {
  try {
    for await (const message of ws) await ws.writeMessage(message.data, message.type);
  } catch {
    // The connection failed (that is what most cases provoke) or closed mid-write.
  }
}

export interface HarnessOptions {
  /** What the connection runs over; `http1` unless given (forEachRole passes its own). */
  transport?: Transport;
  /** Upgrader options (server role) or connect options (client role) that matter here. */
  maxPayload?: number;
  closeTimeout?: number;
  /** Keep every raw byte each peer receives (see RawPeer.raw). */
  captureRaw?: boolean;
  /**
   * Bytes the raw client sends in the same write as its upgrade request (server role only); over
   * HTTP/2, as DATA right behind the CONNECT's HEADERS, before the answer.
   */
  withRequest?: Buffer;
  /**
   * Bytes the raw server sends in the same write as its 101 answer (client role only); over HTTP/2, as
   * DATA right behind the ':status' 200 HEADERS.
   */
  afterHandshake?: (peer: RawPeer) => Buffer;
}

export interface Connection {
  peer: RawPeer;
  /** The wsflow end of the connection. */
  ws: WebSocket;
  /** Resolves with wsflow's 'close' event. */
  closed: Promise<{ code: number; reason: string; wasClean: boolean }>;
}

type CloseEvent = { code: number; reason: string; wasClean: boolean };

/**
 * A wsflow echo endpoint in `role` and a factory of raw peers connected to it, over HTTP/1.1 (a TCP
 * connection each) or HTTP/2 (one extended CONNECT stream each, all on one h2c session). Register it
 * at describe level with `useHarness`: it starts lazily, tears every connection down after each test,
 * and stops after the describe block.
 */
export class Harness {
  readonly role: Role;
  readonly transport: Transport;
  private readonly options: HarnessOptions;
  private wss: WebSocketServer | null = null;
  private rawServer: net.Server | null = null;
  private port = 0;
  private readonly open = new Set<Connection>();
  // Server role: wsflow connections by the raw client's port (h1) or CONNECT id (h2), awaiting their RawPeer.
  private readonly arrivals = new Map<number, (ws: WebSocket) => void>();
  // Client role: raw sockets (h1) or streams (h2) accepted, awaiting the connect() they belong to.
  private readonly accepted: Duplex[] = [];
  private readonly acceptWaiters: Array<(s: Duplex) => void> = [];
  // HTTP/2: the server (wsflow's in the server role, the raw one in the client role) and the client session.
  private h2: H2Server | null = null;
  private session: http2.ClientHttp2Session | null = null;
  private nextId = 1;
  private sessionDropped = false;
  private streamsOnSession = 0;

  constructor(role: Role, options: HarnessOptions = {}) {
    this.role = role;
    this.transport = options.transport ?? 'http1';
    this.options = options;
  }

  /** A new connection to a fresh echo endpoint session. */
  async connect(): Promise<Connection> {
    let conn: Connection;
    if (this.transport === 'h2') conn = this.role === 'server' ? await this.connectToServerH2() : await this.connectClientH2();
    else conn = this.role === 'server' ? await this.connectToServer() : await this.connectClient();
    this.open.add(conn);
    return conn;
  }

  /** Shorthand: a new connection's raw peer. */
  async peer(): Promise<RawPeer> {
    return (await this.connect()).peer;
  }

  /**
   * HTTP/2 only: the TCP connection under the session is lost, from the raw peer's side (it destroys its
   * end of the session), taking every WebSocket on it. The session check after the test is then skipped.
   */
  dropSession(): void {
    if (this.transport !== 'h2') throw new Error('dropSession() is for HTTP/2 harnesses');
    this.sessionDropped = true;
    if (this.role === 'server') this.session?.destroy();
    else for (const s of this.h2?.sessions ?? []) s.destroy();
  }

  /**
   * Tears down every connection of the test. Over HTTP/2 it then requires the session to be up: a
   * WebSocket's failure, close or reset ends its stream, never the session the others share.
   */
  async closeConnections(): Promise<void> {
    const all = [...this.open];
    this.open.clear();
    for (const c of all) {
      c.peer.destroy();
      c.ws.terminate();
    }
    await Promise.all(all.map((c) => withTimeout(c.closed, DEADLINE, 'wsflow to report the close of a terminated connection')));
    if (this.transport !== 'h2' || this.session === null) return;
    const s = this.session;
    const dropped = this.sessionDropped;
    this.sessionDropped = false;
    if (dropped || s.closed || s.destroyed) {
      // The next test starts on a new session.
      this.session = null;
      this.streamsOnSession = 0;
      s.destroy();
      if (this.role === 'client') for (const rs of this.h2?.sessions ?? []) rs.destroy();
      if (!dropped) throw new Error(`The HTTP/2 session did not survive the test (${s.destroyed ? 'destroyed' : 'closed'}): one WebSocket's end must not end the session`);
    } else if (this.streamsOnSession >= STREAMS_PER_SESSION) {
      // Every test ends by resetting its streams from both ends. A server's nghttp2 (the rapid-reset
      // mitigation of CVE-2023-44487) ends a session with GOAWAY INTERNAL_ERROR once its peer has reset
      // about 1,000 streams faster than ~33 a second: what a suite does, not what wsflow does.
      this.session = null;
      this.streamsOnSession = 0;
      s.close();
    }
  }

  async stop(): Promise<void> {
    await this.closeConnections();
    this.session?.destroy();
    this.session = null;
    if (this.wss !== null) await withTimeout(this.wss.close(), DEADLINE, 'the WebSocketServer to close');
    if (this.rawServer !== null) {
      const server = this.rawServer;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (this.h2 !== null) await withTimeout(this.h2.close(), DEADLINE, 'the HTTP/2 server to close');
    this.wss = null;
    this.rawServer = null;
    this.h2 = null;
  }

  private upgraderOptions(): UpgraderOptions {
    const upgrader: UpgraderOptions = {};
    if (this.options.maxPayload !== undefined) upgrader.maxPayload = this.options.maxPayload;
    if (this.options.closeTimeout !== undefined) upgrader.closeTimeout = this.options.closeTimeout;
    return upgrader;
  }

  private connectOptions(): ConnectOptions {
    const opts: ConnectOptions = { handshakeTimeout: DEADLINE };
    if (this.options.maxPayload !== undefined) opts.maxPayload = this.options.maxPayload;
    if (this.options.closeTimeout !== undefined) opts.closeTimeout = this.options.closeTimeout;
    return opts;
  }

  /** The connection handed over by the server under `id`, or terminated when nobody awaits it. */
  private deliver(id: number, ws: WebSocket): void {
    const deliver = this.arrivals.get(id);
    this.arrivals.delete(id);
    if (deliver) deliver(ws);
    else ws.terminate();
  }

  private async sessionTo(origin: string): Promise<http2.ClientHttp2Session> {
    this.session ??= await openSession(origin);
    this.streamsOnSession++;
    return this.session;
  }

  private echoing(peer: RawPeer, ws: WebSocket): Connection {
    const closed = new Promise<CloseEvent>((resolve) => ws.once('close', resolve));
    void echo(ws);
    return { peer, ws, closed };
  }

  private async connectToServer(): Promise<Connection> {
    if (this.wss === null) {
      this.wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/echo', upgrader: this.upgraderOptions() }, (ws, req) =>
        this.deliver(req.socket.remotePort ?? 0, ws),
      );
      this.port = (await this.wss.listen()).port;
    }
    let deliver!: (ws: WebSocket) => void;
    const arrived = new Promise<WebSocket>((resolve) => (deliver = resolve));
    // The raw client's local port is only known once it connects: register under it before the 101 can be read.
    const peer = await rawUpgrade(this.port, '/echo', this.options, (localPort) => this.arrivals.set(localPort, deliver));
    const ws = await withTimeout(arrived, DEADLINE, 'the WebSocketServer to hand over the connection');
    return this.echoing(peer, ws);
  }

  private async connectToServerH2(): Promise<Connection> {
    if (this.h2 === null) {
      this.h2 = await startH2Server({ h2c: true }, (server) => {
        this.wss = new WebSocketServer({ http2: server, path: '/echo', upgrader: this.upgraderOptions() }, (ws, req) =>
          this.deliver(Number(req.headers[CONN_ID_HEADER]), ws),
        );
      });
    }
    const session = await this.sessionTo(this.h2.origin);
    const id = this.nextId++;
    const arrived = new Promise<WebSocket>((resolve) => this.arrivals.set(id, resolve));
    const stream = await h2Open(session, id, this.options.withRequest);
    const peer = new RawPeer(stream, true, Buffer.alloc(0), this.options);
    const ws = await withTimeout(arrived, DEADLINE, 'the WebSocketServer to hand over the connection');
    return this.echoing(peer, ws);
  }

  private nextAccepted(what: string): Promise<Duplex> {
    return withTimeout(
      new Promise<Duplex>((resolve) => {
        const ready = this.accepted.shift();
        if (ready) resolve(ready);
        else this.acceptWaiters.push(resolve);
      }),
      DEADLINE,
      what,
    );
  }

  private acceptRaw(s: Duplex): void {
    const waiter = this.acceptWaiters.shift();
    if (waiter) waiter(s);
    else this.accepted.push(s);
  }

  private async connectClient(): Promise<Connection> {
    if (this.rawServer === null) {
      const server = net.createServer({ allowHalfOpen: true }, (socket) => {
        socket.on('error', () => undefined);
        this.acceptRaw(socket);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.rawServer = server;
      this.port = (server.address() as net.AddressInfo).port;
    }
    const connecting = connect(`ws://127.0.0.1:${this.port}/echo`, this.connectOptions());
    connecting.catch(() => undefined);
    const socket = (await this.nextAccepted('connect() to open a TCP connection')) as net.Socket;
    const { head, rest } = await readHead(socket, 'the upgrade request');
    const key = headerOf(head, 'sec-websocket-key');
    if (key === undefined || !/^GET \/echo HTTP\/1\.1$/.test(head.split('\r\n')[0])) {
      throw new Error(`Unexpected upgrade request from connect(): ${JSON.stringify(head)}`);
    }
    if (rest.length > 0) throw new Error(`connect() sent ${rest.length} bytes before the 101 answer`);
    const peer = new RawPeer(socket, false, Buffer.alloc(0), this.options);
    const answer = Buffer.from(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
      'latin1',
    );
    const extra = this.options.afterHandshake ? this.options.afterHandshake(peer) : Buffer.alloc(0);
    socket.write(Buffer.concat([answer, extra]));
    socket.resume();
    const ws = await withTimeout(connecting, DEADLINE, 'connect() to resolve');
    return this.echoing(peer, ws);
  }

  /**
   * Client role over HTTP/2: a raw node HTTP/2 server (advertising SETTINGS_ENABLE_CONNECT_PROTOCOL)
   * answers wsflow's extended CONNECT itself, and the RawPeer works on the server's end of the stream.
   * wsflow's client is `connect(url, { http2: session })` on an h2c session to it.
   */
  private async connectClientH2(): Promise<Connection> {
    if (this.h2 === null) {
      this.h2 = await startH2Server({ h2c: true, settings: { enableConnectProtocol: true } }, (server) => {
        server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
          stream.on('error', () => undefined);
          const wrong = checkConnectRequest(headers);
          if (wrong !== undefined) {
            stream.respond({ ':status': 400 });
            stream.end(`Unexpected extended CONNECT from connect(): ${wrong}: ${JSON.stringify(headers)}`);
            return;
          }
          this.acceptRaw(stream);
        });
      });
    }
    const session = await this.sessionTo(this.h2.origin);
    const connecting = connect(`ws://127.0.0.1:${this.h2.port}/echo`, { ...this.connectOptions(), http2: session });
    connecting.catch(() => undefined);
    const stream = (await this.nextAccepted('connect() to open an extended CONNECT stream')) as http2.ServerHttp2Stream;
    const peer = new RawPeer(stream, false, Buffer.alloc(0), this.options);
    // RFC 8441 §5: a 2xx answer and no Sec-WebSocket-Accept.
    stream.respond({ ':status': 200 });
    const extra = this.options.afterHandshake ? this.options.afterHandshake(peer) : Buffer.alloc(0);
    if (extra.length > 0) stream.write(extra);
    const ws = await withTimeout(connecting, DEADLINE, 'connect() to resolve');
    return this.echoing(peer, ws);
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Registers a harness with jest's hooks at describe level. */
export function useHarness(role: Role, options: HarnessOptions = {}): Harness {
  const h = new Harness(role, options);
  afterEach(() => h.closeConnections());
  afterAll(() => h.stop());
  return h;
}

/**
 * Runs `fn` for each role over each transport, in a describe block named after both ("wsflow as server
 * over HTTP/2"). `fn` must pass the transport on to its harnesses (`useHarness(role, { transport })`).
 */
export function forEachRole(
  fn: (role: Role, transport: Transport) => void,
  roles: readonly Role[] = ROLES,
  transports: readonly Transport[] = TRANSPORTS,
): void {
  const cases = transports.flatMap((t) => roles.map((r) => [r, TRANSPORT_NAMES[t], t] as const));
  describe.each(cases)('wsflow as %s over %s', (role, _name, transport) => fn(role, transport));
}

/** Runs `fn` over each transport, in a describe block named after it ("over HTTP/2"): for suites without roles. */
export function forEachTransport(fn: (transport: Transport) => void, transports: readonly Transport[] = TRANSPORTS): void {
  describe.each(transports.map((t) => [TRANSPORT_NAMES[t], t] as const))('over %s', (_name, transport) => fn(transport));
}
