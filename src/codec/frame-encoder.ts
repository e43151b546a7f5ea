import { Transform, TransformCallback } from 'stream';
import { toBuffer, viewOf } from './buffers';
import { FrameInput } from './frame';
import { checkFrameInput, firstHeaderByte, frameHeaderLength, writeFrameHeader } from './frame-serializer';
import { maskInto } from './mask';

/** Options of {@link FrameEncoder}. */
export interface FrameEncoderOptions {
  /** true (client role): every frame gets a fresh crypto-random 4-byte masking key. */
  mask?: boolean;
}

// Unmasked payloads from this size are pushed as they are, after their header; smaller ones are copied into
// the batch's buffer, which costs less than a push of their own (a push and its 'data' event cost about what
// copying 2 KiB does).
const SEPARATE_PAYLOAD_MIN = 2048;

// A batch is serialized into buffers of about this size (a frame is never split): big enough that a push
// carries many small frames, small enough that a batch of large masked frames is not one huge allocation.
const SEGMENT_BYTES = 64 * 1024;

// Frames the writable side queues before write() returns false (Node's objectMode default is 16): a batch
// holds up to this many, so the producer's wait for 'drain' is paid once per this many frames.
const WRITABLE_HIGH_WATER_MARK = 128;

// Segments are carved from a shared slab, never reused (a pushed segment belongs to the reader). A buffer of
// 4 KiB or more made on its own costs Node about 4 µs (a backing store of its own, more GC work): with one per
// 64 KiB segment, 1 KiB frames went at 0.6-1.2x ws into a sink, 1.4-1.6x with the slab (bench:codec, CPU clock).
// The price: a segment a reader keeps pins its slab (at most 1 MiB), as Node's own pool does at 8 KiB.
const SLAB_SIZE = 1024 * 1024;
let slab: Buffer | null = null;
let slabBuffer: ArrayBufferLike | null = null;
let slabUsed = 0;

// A buffer of `size` bytes for one segment: a view of the slab, or its own beyond a quarter of it.
function segment(size: number): Buffer {
  if (size > SLAB_SIZE / 4) return Buffer.allocUnsafe(size);
  if (slab === null || slabUsed + size > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabBuffer = slab.buffer;
    slabUsed = 0;
  }
  // allocUnsafeSlow gives the slab an ArrayBuffer of its own, from offset 0.
  const out = viewOf(slabBuffer as ArrayBufferLike, slabUsed, size);
  slabUsed += size;
  return out;
}

function headerByte(frame: FrameInput): number {
  return firstHeaderByte(frame.fin ?? true, frame.rsv1 ?? false, frame.opcode, frame.rsv2, frame.rsv3);
}

/** A queued write, as Writable hands a batch to `_writev`. */
interface QueuedFrame {
  chunk: FrameInput;
}

const NO_FRAMES: readonly QueuedFrame[] = [];

/**
 * {@link FrameInput} objects in, wire bytes out, with the shortest length encoding.
 * `fin` defaults to true and the RSV bits to false. The caller's payload is never mutated, and a large
 * unmasked payload is pushed after its header as it is, without being concatenated.
 *
 * Frames are encoded in batches: the first frame of a batch corks the writable side until the end of the
 * tick (`process.nextTick`), the frames written meanwhile queue behind it, and the whole batch is serialized
 * into one buffer and pushed once, so a pipeline pays the stream machinery per batch rather than per frame.
 * A batch stops between segments when the readable side is full and goes on when it is read again, so
 * a slow reader never makes it hold more than about a segment beyond its high-water mark.
 */
export class FrameEncoder extends Transform {
  private readonly mask: boolean;
  /** The first frame of the next batch: accepted, not yet encoded. */
  private pendingFirst: FrameInput | null = null;
  /** Whether the cork taken for the current batch is still to be undone. */
  private corkedForBatch = false;
  /** A write callback held because the readable side is full: called from `_read`. */
  private waiting: TransformCallback | null = null;
  // The batch being encoded: frame 0 is `batchFirst` (when not null), then `batchSecond` (when not null),
  // then `batchQueued`. Kept on the instance so that a batch stopped by backpressure resumes from `_read`.
  private batchFirst: FrameInput | null = null;
  private batchSecond: FrameInput | null = null;
  private batchQueued: readonly QueuedFrame[] = NO_FRAMES;
  private batchLength = 0;
  /** Index of the next frame of the batch to encode. */
  private batchNext = 0;
  private batchCallback: TransformCallback | null = null;
  /** Whether the batch stopped because a push returned false, and resumes on the next `_read`. */
  private stalled = false;
  private readonly endBatch = (): void => {
    if (this.corkedForBatch) {
      this.corkedForBatch = false;
      // Writable hands the queued frames to _writev (or _write for one), which encode them with the first.
      if (this.writableCorked > 0) this.uncork();
    }
    if (this.pendingFirst !== null) this.startBatch(null, NO_FRAMES, null);
  };

  constructor(options: FrameEncoderOptions = {}) {
    super({ writableObjectMode: true, readableObjectMode: false, writableHighWaterMark: WRITABLE_HIGH_WATER_MARK });
    this.mask = options.mask ?? false;
  }

  override _write(frame: FrameInput, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.pendingFirst !== null) {
      // The one frame queued behind the first when the batch ends.
      this.startBatch(frame, NO_FRAMES, callback);
      return;
    }
    // A new batch: hold this frame, let the writes of this tick queue (corked), encode them all at its end.
    this.pendingFirst = frame;
    this.corkedForBatch = true;
    this.cork();
    process.nextTick(this.endBatch);
    callback();
  }

  override _writev(frames: QueuedFrame[], callback: TransformCallback): void {
    // Writable hands over an array it no longer uses (it starts a new one), so it can be kept while stalled.
    this.startBatch(null, frames, callback);
  }

  override _flush(callback: TransformCallback): void {
    // end() before the batch's tick is over: the first frame must still go out before the end of the stream.
    if (this.pendingFirst !== null) this.startBatch(null, NO_FRAMES, null);
    callback();
  }

  override _read(): void {
    if (this.stalled) {
      this.stalled = false;
      this.encodeBatch();
      return;
    }
    const callback = this.waiting;
    if (callback !== null) {
      this.waiting = null;
      callback();
    }
  }

  /** Encodes the pending first frame (if any), then `second` (if any), then `queued`; then calls `callback`. */
  private startBatch(second: FrameInput | null, queued: readonly QueuedFrame[], callback: TransformCallback | null): void {
    const first = this.pendingFirst;
    this.pendingFirst = null;
    this.batchFirst = first;
    this.batchSecond = second;
    this.batchQueued = queued;
    this.batchLength = (first === null ? 0 : 1) + (second === null ? 0 : 1) + queued.length;
    this.batchNext = 0;
    this.batchCallback = callback;
    this.encodeBatch();
  }

  private frameAt(index: number): FrameInput {
    let i = index;
    const first = this.batchFirst;
    if (first !== null) {
      if (i === 0) return first;
      i--;
    }
    const second = this.batchSecond;
    if (second !== null) {
      if (i === 0) return second;
      i--;
    }
    return this.batchQueued[i].chunk;
  }

  /** Serializes the batch from `batchNext` on and pushes the bytes, until it is done or a push returns false. */
  private encodeBatch(): void {
    const frameCount = this.batchLength;
    const mask = this.mask;
    let problem: string | null = null;
    let more = true;
    let start = this.batchNext;
    while (start < frameCount && !this.destroyed) {
      if (!more) {
        // The reader is behind: keep the rest of the batch until it reads again.
        this.batchNext = start;
        this.stalled = true;
        return;
      }
      // Size a segment: whole frames up to about SEGMENT_BYTES, headers and payloads. It ends at an unmasked
      // payload too large to copy, whose header closes the segment and which is then pushed as it is.
      let end = start;
      let total = 0;
      let large: Uint8Array | null = null;
      for (; end < frameCount && total < SEGMENT_BYTES; end++) {
        const frame = this.frameAt(end);
        problem = checkFrameInput(frame);
        if (problem !== null) break;
        const payload = frame.payload;
        const length = payload === undefined ? 0 : payload.length;
        if (!mask && length >= SEPARATE_PAYLOAD_MIN) {
          large = payload as Uint8Array;
          total += frameHeaderLength(length, false);
          break;
        }
        total += frameHeaderLength(length, mask) + length;
      }
      if (total > 0) {
        // Pushed whole: a subarray of it would cost more than the copies of the small payloads in it.
        const out = segment(total);
        let position = 0;
        for (let i = start; i < end; i++) {
          const frame = this.frameAt(i);
          const payload = frame.payload;
          const length = payload === undefined ? 0 : payload.length;
          position += writeFrameHeader(out, position, headerByte(frame), length, mask);
          if (length === 0 || payload === undefined) continue;
          if (mask) maskInto(payload, out, position, position - 4);
          else out.set(payload, position);
          position += length;
        }
        if (large !== null) writeFrameHeader(out, position, headerByte(this.frameAt(end)), large.length, false);
        more = this.push(out);
      }
      if (large !== null) {
        // One push fewer per large frame that follows small ones: its header rode with them.
        more = this.push(toBuffer(large));
        end++;
      }
      start = end;
      if (problem !== null) break;
    }
    const callback = this.batchCallback;
    // Done with the batch: hold no reference to the caller's frames.
    this.batchFirst = null;
    this.batchSecond = null;
    this.batchQueued = NO_FRAMES;
    this.batchCallback = null;
    this.batchLength = 0;
    this.batchNext = 0;
    if (problem !== null) {
      const error = new TypeError(`FrameEncoder: ${problem}`);
      if (callback !== null) callback(error);
      else this.destroy(error);
      return;
    }
    if (callback === null) return;
    // As Transform does: the next batch waits while the readable side is over its high-water mark.
    if (more || this.destroyed) callback();
    else this.waiting = callback;
  }
}
