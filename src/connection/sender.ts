import type { Duplex } from 'stream';
import { Opcode } from '../codec/frame';
import { viewOf } from '../codec/buffers';
import { firstHeaderByte, frameHeaderLength, serializeFrame, writeFrameHeader } from '../codec/frame-serializer';
import { maskInto } from '../codec/mask';
import type { PerMessageDeflate } from '../extensions/permessage-deflate';

// Frames with payloads up to this size are copied into the tick's run (below) rather than handed to the socket
// one by one: a copy of a few KiB costs less than the two extra entries a frame adds to a writev (Node's
// request array, its C++ walk over it, the kernel's iovec), which were a third of a small-message echo.
const COALESCE_MAX = 4096;

// The shared slab runs are carved from, a region per flush, never reused: a view handed to a socket keeps its
// slab alive until the write is done, and the next runs go to a fresh slab once this one is used up.
const SLAB_SIZE = 64 * 1024;
let slab: Buffer | null = null;
// The slab's ArrayBuffer (it starts at offset 0: allocUnsafeSlow), kept so a flush makes its view without
// Buffer's slow `buffer` accessor.
let slabBuffer: ArrayBufferLike | null = null;
let slabUsed = 0;
// The sender whose run ends where the slab's free space begins: only it can grow its run in place.
let slabTail: Sender | null = null;

// The opcode of a queue entry whose payload is a whole frame, already encoded (a hub's shared frame).
const PREFRAMED = -1;

// The queue of every sender until a frame has to wait: shared, only ever read (never pushed to).
const NOTHING_QUEUED: QueuedFrame[] = [];

// What a send after the connection closed calls back with, when no more specific error is known.
const CONNECTION_CLOSED = new Error('The connection is closed');

/** Called once a frame is handed to the socket, or with the error that kept it from being sent. */
export type SendCallback = (err?: Error | null) => void;

interface QueuedFrame {
  opcode: number;
  payload: Buffer;
  fin: boolean;
  compress: boolean;
  firstFragment: boolean;
  callback: SendCallback | undefined;
}

// Bits of Sender.bits.
const enum Bit {
  Mask = 1,
  Corked = 2,
  Backlogged = 4,
  Scheduled = 8,
  Compressing = 16,
  Ending = 32,
}

/**
 * Writes frames to the socket in order. The small frames of a tick are copied one after the other into a
 * run, a region of a shared slab, that is handed to the socket as one buffer at the end of the tick (or
 * before anything else must be written, to keep the order); larger frames are written as they are, and the
 * socket is corked for the tick so everything leaves in one syscall. With permessage-deflate, frames wait in
 * a FIFO while a compression job runs, so what was sent first arrives first.
 */
export class Sender {
  private readonly socket: Duplex;
  private readonly deflate: PerMessageDeflate | null;
  // mask, corked, backlogged, scheduled, compressing, ending: one bit each (see Bit), one field per connection.
  private bits = 0;
  // The run: bytes of small frames not yet handed to the socket, at run[runStart .. runEnd).
  private run: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;
  // Bytes the run may reach before it must go to the socket, so the socket sees its high-water mark crossed
  // (and sets writableNeedDrain, and emits 'drain' later) exactly as if each frame had been written.
  private runLimit = 0;
  // The callbacks of the run's frames, called in order once the socket has taken the run.
  private runCallbacks: SendCallback | SendCallback[] | null = null;
  // Frames waiting for an earlier compression job to finish (the shared empty queue until the first one),
  // and their payload bytes.
  private queue: QueuedFrame[] = NOTHING_QUEUED;
  private queuedBytes = 0;
  private failed: Error | null = null;
  private readonly host: SenderHost;

  private get mask(): boolean {
    return (this.bits & Bit.Mask) !== 0;
  }
  private get corked(): boolean {
    return (this.bits & Bit.Corked) !== 0;
  }
  private set corked(value: boolean) {
    this.bits = value ? this.bits | Bit.Corked : this.bits & ~Bit.Corked;
  }
  // The socket had bytes waiting when it was corked: what is written this tick will wait too.
  private get backlogged(): boolean {
    return (this.bits & Bit.Backlogged) !== 0;
  }
  private set backlogged(value: boolean) {
    this.bits = value ? this.bits | Bit.Backlogged : this.bits & ~Bit.Backlogged;
  }
  // A flush of this tick's writes is scheduled.
  private get scheduled(): boolean {
    return (this.bits & Bit.Scheduled) !== 0;
  }
  private set scheduled(value: boolean) {
    this.bits = value ? this.bits | Bit.Scheduled : this.bits & ~Bit.Scheduled;
  }
  private get compressing(): boolean {
    return (this.bits & Bit.Compressing) !== 0;
  }
  private set compressing(value: boolean) {
    this.bits = value ? this.bits | Bit.Compressing : this.bits & ~Bit.Compressing;
  }
  private get ending(): boolean {
    return (this.bits & Bit.Ending) !== 0;
  }
  private set ending(value: boolean) {
    this.bits = value ? this.bits | Bit.Ending : this.bits & ~Bit.Ending;
  }

  constructor(socket: Duplex, mask: boolean, deflate: PerMessageDeflate | null, host: SenderHost) {
    this.socket = socket;
    if (mask) this.bits |= Bit.Mask;
    this.deflate = deflate;
    this.host = host;
  }

  /** True while frames wait for an earlier compression job. */
  get hasQueued(): boolean {
    return this.queue.length > 0;
  }

  /** Ends the socket once every frame sent so far is written: a Close queued behind zlib must not be cut off. */
  end(): void {
    if (this.compressing || this.queue.length > 0) {
      this.ending = true;
      return;
    }
    this.flushRun();
    this.socket.end();
  }

  /** Bytes accepted but not yet handed to the kernel: the socket's buffer, this tick's run and frames awaiting compression. */
  get bufferedAmount(): number {
    return this.socket.writableLength + (this.runEnd - this.runStart) + this.queuedBytes;
  }

  /** True when the socket is over its high-water mark and callers should wait for 'drain'. */
  get needsDrain(): boolean {
    return this.socket.writableNeedDrain || this.queuedBytes > this.socket.writableHighWaterMark;
  }

  /**
   * Sends one frame. `compress` asks for permessage-deflate on a data frame (ignored without an
   * agreed extension); `firstFragment` tells a compressed fragment whether it carries RSV1.
   */
  send(
    opcode: number,
    payload: Buffer,
    fin: boolean,
    compress: boolean,
    callback?: SendCallback,
    firstFragment = opcode !== Opcode.Continuation,
  ): void {
    if (this.failed !== null) {
      if (callback !== undefined) process.nextTick(callback, this.failed);
      return;
    }
    const deflating = compress && this.deflate !== null;
    if (!deflating && !this.compressing) {
      // The common case goes straight to the socket: no queue entry is built per frame.
      this.write(opcode, payload, fin, false, callback);
      return;
    }
    const frame: QueuedFrame = { opcode, payload, fin, compress: deflating, firstFragment, callback };
    if (this.compressing) {
      if (this.queue === NOTHING_QUEUED) this.queue = [];
      this.queue.push(frame);
      this.queuedBytes += payload.length;
      return;
    }
    this.dispatch(frame);
  }

  /**
   * Sends a frame that is already encoded (header and payload, unmasked: the server role), e.g. one frame shared
   * by every subscriber of a hub. It keeps its place behind frames waiting for compression and is corked with
   * the other writes of this tick. The buffer is written as is, never copied nor modified, so it can be shared.
   */
  sendFrame(frame: Buffer): void {
    if (this.failed !== null) return;
    if (!this.compressing) {
      // Written as is (shared, never copied), behind this tick's run.
      this.beforeDirectWrite();
      this.socket.write(frame);
      return;
    }
    if (this.queue === NOTHING_QUEUED) this.queue = [];
    this.queue.push({ opcode: PREFRAMED, payload: frame, fin: true, compress: false, firstFragment: false, callback: undefined });
    this.queuedBytes += frame.length;
  }

  /** Fails every queued frame and refuses new ones: the connection is going away. (null: nothing is queued.) */
  abort(err: Error | null): void {
    if (this.failed !== null) return;
    // One shared error for the common case: building an Error (and its stack) per close is measurable.
    const failure = err ?? CONNECTION_CLOSED;
    this.failed = failure;
    // The socket is gone: the run's bytes can never be sent.
    const runCallbacks = this.runCallbacks;
    this.dropRun();
    if (typeof runCallbacks === 'function') process.nextTick(runCallbacks, failure);
    else if (runCallbacks !== null) for (const callback of runCallbacks) process.nextTick(callback, failure);
    const pending = this.queue.splice(0);
    this.queuedBytes = 0;
    for (const frame of pending) if (frame.callback !== undefined) process.nextTick(frame.callback, failure);
  }

  private dispatch(frame: QueuedFrame): void {
    if (frame.opcode === PREFRAMED) {
      this.beforeDirectWrite();
      this.socket.write(frame.payload, frame.callback);
      return;
    }
    if (!frame.compress) {
      this.write(frame.opcode, frame.payload, frame.fin, false, frame.callback);
      return;
    }
    const deflate = this.deflate as PerMessageDeflate;
    this.compressing = true;
    let completedSynchronously = false;
    let inCall = true;
    deflate.compress(frame.payload, frame.fin, (err, compressed) => {
      this.compressing = false;
      if (err || compressed === undefined) {
        const failure = err ?? new Error('Compression produced no output');
        if (frame.callback !== undefined) frame.callback(failure);
        this.abort(failure);
        return;
      }
      if (this.failed === null) {
        // RSV1 marks a compressed message on its first frame only (RFC 7692 §6).
        this.write(frame.opcode, compressed, frame.fin, frame.firstFragment, frame.callback);
      } else if (frame.callback !== undefined) {
        frame.callback(this.failed);
      }
      if (inCall) completedSynchronously = true;
      else this.drainQueue();
    });
    inCall = false;
    if (completedSynchronously) this.drainQueue();
  }

  private drainQueue(): void {
    while (!this.compressing && this.queue.length > 0) {
      const frame = this.queue.shift() as QueuedFrame;
      this.queuedBytes -= frame.payload.length;
      this.dispatch(frame);
    }
    if (this.queue.length === 0 && !this.compressing) {
      if (this.ending) {
        this.ending = false;
        this.flushRun();
        this.socket.end();
      }
      this.host.handleDrain();
    }
  }

  private write(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean, callback?: SendCallback): void {
    const first = firstHeaderByte(fin, rsv1, opcode);
    const length = payload.length;
    const mask = this.mask;
    const headerLength = frameHeaderLength(length, mask);
    if (length <= COALESCE_MAX) {
      // Copied (masked, for a client) behind the header into the run: the caller's payload is never mutated.
      const run = this.reserve(headerLength + length);
      const at = this.runEnd;
      writeFrameHeader(run, at, first, length, mask);
      if (mask) {
        if (length > 0) maskInto(payload, run, at + headerLength, at + headerLength - 4);
      } else if (length > 0) {
        run.set(payload, at + headerLength);
      }
      this.runEnd = at + headerLength + length;
      if (callback !== undefined) this.addRunCallback(callback);
      if (this.runEnd - this.runStart >= this.runLimit) this.beforeDirectWrite();
      return;
    }
    if (!mask) {
      // The header ends the run, the payload follows as it is (not copied): two buffers in the tick's writev.
      this.cork();
      const run = this.reserve(headerLength);
      this.runEnd += writeFrameHeader(run, this.runEnd, first, length, false);
      this.flushRun();
      this.socket.write(payload, callback);
      return;
    }
    this.beforeDirectWrite();
    this.socket.write(serializeFrame(first, payload, true)[0], callback);
  }

  // Makes room for `size` more bytes at the end of the run and returns the slab it is in (write at runEnd).
  private reserve(size: number): Buffer {
    const run = this.run;
    if (run !== null) {
      // The run grows in place while it ends where the slab's free space begins and the slab has room.
      if (slabTail === this && run === slab && slabUsed + size <= SLAB_SIZE) {
        slabUsed += size;
        return run;
      }
      this.beforeDirectWrite();
    }
    if (slab === null || slabUsed + size > SLAB_SIZE) {
      slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      slabBuffer = slab.buffer;
      slabUsed = 0;
    }
    this.run = slab;
    this.runStart = this.runEnd = slabUsed;
    slabUsed += size;
    slabTail = this;
    const room = this.socket.writableHighWaterMark - this.socket.writableLength;
    // Already over the mark, the socket needs 'drain' already: the run then only keeps to the mark's size.
    this.runLimit = room > 0 ? room : this.socket.writableHighWaterMark;
    this.schedule();
    return slab;
  }

  private addRunCallback(callback: SendCallback): void {
    const callbacks = this.runCallbacks;
    if (callbacks === null) this.runCallbacks = callback;
    else if (typeof callbacks === 'function') this.runCallbacks = [callbacks, callback];
    else callbacks.push(callback);
  }

  // Hands the run to the socket (corked, unless it is the tick's only write) and starts none.
  private flushRun(): void {
    const run = this.run;
    if (run === null) return;
    const start = this.runStart;
    const end = this.runEnd;
    const callbacks = this.runCallbacks;
    this.dropRun();
    if (end === start) return;
    const socket = this.socket;
    // Bytes already waiting mean this write waits too: it gets its own copy rather than pin the shared slab.
    const waits = this.corked ? this.backlogged : socket.writableLength > 0;
    const view = viewOf(run === slab ? (slabBuffer as ArrayBufferLike) : run.buffer, start, end - start);
    const bytes = waits ? Buffer.from(view) : view;
    socket.write(bytes, callbacks === null ? undefined : typeof callbacks === 'function' ? callbacks : callAll(callbacks));
  }

  private dropRun(): void {
    if (this.run === null) return;
    if (slabTail === this) slabTail = null;
    this.run = null;
    this.runStart = this.runEnd = 0;
    this.runCallbacks = null;
  }

  // Anything written to the socket directly goes behind the run, corked with it for this tick.
  private beforeDirectWrite(): void {
    this.cork();
    this.flushRun();
  }

  // The first direct write of a tick corks the socket, so the tick's writes leave in one writev.
  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.backlogged = this.socket.writableLength > 0;
    this.socket.cork();
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(flushTick, this);
  }

  /** @internal Runs once every frame of this tick was written: the run goes, then the cork is released. */
  flushTick(): void {
    this.scheduled = false;
    this.flushRun();
    if (this.corked) {
      this.corked = false;
      this.socket.uncork();
    }
  }
}

// One function per flush of several callbacks (rare: pongs and ping() promises), called in order.
function callAll(callbacks: SendCallback[]): SendCallback {
  return (err) => {
    for (const callback of callbacks) callback(err);
  };
}

/** What a sender tells its connection. */
export interface SenderHost {
  /** Frames that waited for compression are all handed to the socket. */
  handleDrain(): void;
}

function flushTick(sender: Sender): void {
  sender.flushTick();
}
