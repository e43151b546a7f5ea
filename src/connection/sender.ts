import type { Duplex } from 'stream';
import { Opcode } from '../codec/frame';
import { firstHeaderByte, frameHeaderLength, serializeFrame, writeFrameHeader } from '../codec/frame-serializer';

// Unmasked payloads up to this size are merged with their header into one socket write; larger ones
// go as [header, payload] without copying (corked, so they still leave in one writev).
const MERGE_MAX = 256;
import type { PerMessageDeflate } from '../extensions/permessage-deflate';

// The opcode of a queue entry whose payload is a whole frame, already encoded (a hub's shared frame).
const PREFRAMED = -1;

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

/**
 * Writes frames to the socket in order. Frames written in the same tick are corked together so
 * many small frames leave in one `writev` syscall. With permessage-deflate, frames wait in a FIFO
 * while a compression job runs, so what was sent first arrives first.
 */
export class Sender {
  private readonly socket: Duplex;
  private readonly mask: boolean;
  private readonly deflate: PerMessageDeflate | null;
  private corked = false;
  // Frames waiting for an earlier compression job to finish, and their payload bytes.
  private readonly queue: QueuedFrame[] = [];
  private queuedBytes = 0;
  private compressing = false;
  private failed: Error | null = null;
  private ending = false;
  private readonly host: SenderHost;

  constructor(socket: Duplex, mask: boolean, deflate: PerMessageDeflate | null, host: SenderHost) {
    this.socket = socket;
    this.mask = mask;
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
    this.socket.end();
  }

  /** Bytes accepted but not yet handed to the kernel: the socket's buffer plus frames awaiting compression. */
  get bufferedAmount(): number {
    return this.socket.writableLength + this.queuedBytes;
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
      this.cork();
      this.socket.write(frame);
      return;
    }
    this.queue.push({ opcode: PREFRAMED, payload: frame, fin: true, compress: false, firstFragment: false, callback: undefined });
    this.queuedBytes += frame.length;
  }

  /** Fails every queued frame and refuses new ones: the connection is going away. (null: nothing is queued.) */
  abort(err: Error | null): void {
    if (this.failed !== null) return;
    // One shared error for the common case: building an Error (and its stack) per close is measurable.
    const failure = err ?? CONNECTION_CLOSED;
    this.failed = failure;
    const pending = this.queue.splice(0);
    this.queuedBytes = 0;
    for (const frame of pending) if (frame.callback !== undefined) process.nextTick(frame.callback, failure);
  }

  private dispatch(frame: QueuedFrame): void {
    if (frame.opcode === PREFRAMED) {
      this.cork();
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
        this.socket.end();
      }
      this.host.handleDrain();
    }
  }

  private write(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean, callback?: SendCallback): void {
    const socket = this.socket;
    this.cork();
    const first = firstHeaderByte(fin, rsv1, opcode);
    const length = payload.length;
    if (!this.mask && length <= MERGE_MAX) {
      // A small payload is copied behind its header: one write costs less than the copy.
      const out = Buffer.allocUnsafe(frameHeaderLength(length, false) + length);
      const headerLength = writeFrameHeader(out, 0, first, length, false);
      payload.copy(out, headerLength);
      socket.write(out, callback);
      return;
    }
    const buffers = serializeFrame(first, payload, this.mask);
    if (buffers.length === 1) {
      socket.write(buffers[0], callback);
    } else {
      socket.write(buffers[0]);
      socket.write(buffers[1], callback);
    }
  }

  // The first write of a tick corks the socket and schedules the uncork, so the tick's frames leave in one writev.
  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(uncork, this);
  }

  /** @internal Runs after every frame of this tick was written, so they leave in one writev. */
  flushCorked(): void {
    this.corked = false;
    this.socket.uncork();
  }
}

/** What a sender tells its connection. */
export interface SenderHost {
  /** Frames that waited for compression are all handed to the socket. */
  handleDrain(): void;
}

function uncork(sender: Sender): void {
  sender.flushCorked();
}
