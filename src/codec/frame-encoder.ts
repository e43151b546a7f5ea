import { Transform, TransformCallback } from 'stream';
import { toBuffer } from './buffers';
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

function headerByte(frame: FrameInput): number {
  return firstHeaderByte(frame.fin ?? true, frame.rsv1 ?? false, frame.opcode, frame.rsv2, frame.rsv3);
}

/** A queued write, as Writable hands a batch to `_writev`. */
interface QueuedFrame {
  chunk: FrameInput;
}

const NO_FRAMES: readonly QueuedFrame[] = [];
const NO_FRAME = null as unknown as FrameInput;

/**
 * {@link FrameInput} objects in, wire bytes out, with the shortest length encoding.
 * `fin` defaults to true and the RSV bits to false. The caller's payload is never mutated, and a large
 * unmasked payload is pushed after its header as it is, without being concatenated.
 *
 * Frames are encoded in batches: the first frame of a batch corks the writable side until the end of the
 * tick (`process.nextTick`), the frames written meanwhile queue behind it, and the whole batch is serialized
 * into one buffer and pushed once, so a pipeline pays the stream machinery per batch rather than per frame.
 */
export class FrameEncoder extends Transform {
  private readonly mask: boolean;
  /** The first frame of a batch: accepted, not yet encoded. */
  private pendingFirst: FrameInput | null = null;
  /** Whether the cork taken for the current batch is still to be undone. */
  private corkedForBatch = false;
  /** A write callback held because the readable side is full: called from `_read`. */
  private waiting: TransformCallback | null = null;
  /** One queued frame, for `_write` to hand to `encode` without allocating. */
  private readonly single: QueuedFrame[] = [{ chunk: NO_FRAME }];
  private readonly endBatch = (): void => {
    if (this.corkedForBatch) {
      this.corkedForBatch = false;
      // Writable hands the queued frames to _writev (or _write for one), which encode them with the first.
      if (this.writableCorked > 0) this.uncork();
    }
    if (this.pendingFirst !== null) this.encode(NO_FRAMES, null);
  };

  constructor(options: FrameEncoderOptions = {}) {
    super({ writableObjectMode: true, readableObjectMode: false, writableHighWaterMark: WRITABLE_HIGH_WATER_MARK });
    this.mask = options.mask ?? false;
  }

  override _write(frame: FrameInput, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.pendingFirst !== null) {
      // The one frame queued behind the first when the batch ends.
      const single = this.single;
      single[0].chunk = frame;
      this.encode(single, callback);
      // Not kept: the slot must not hold on to the caller's payload.
      single[0].chunk = NO_FRAME;
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
    this.encode(frames, callback);
  }

  override _flush(callback: TransformCallback): void {
    // end() before the batch's tick is over: the first frame must still go out before the end of the stream.
    if (this.pendingFirst !== null) this.encode(NO_FRAMES, null);
    callback();
  }

  override _read(): void {
    const callback = this.waiting;
    if (callback !== null) {
      this.waiting = null;
      callback();
    }
  }

  /** Serializes the pending first frame (if any) and `queued`, pushes the bytes, then calls `callback`. */
  private encode(queued: readonly QueuedFrame[], callback: TransformCallback | null): void {
    const first = this.pendingFirst;
    this.pendingFirst = null;
    if (this.destroyed) {
      callback?.();
      return;
    }
    const mask = this.mask;
    // Frame i of the batch: the pending first frame, then the queued ones.
    const skip = first === null ? 1 : 0;
    const frameCount = queued.length + 1 - skip;
    let problem: string | null = null;
    let more = true;
    for (let start = 0; start < frameCount && problem === null; ) {
      // Size a segment: whole frames up to about SEGMENT_BYTES, headers and payloads. It ends before an
      // unmasked payload too large to copy, which goes alone: its header, then the payload as it is.
      let end = start;
      let total = 0;
      let alone = false;
      for (; end < frameCount && total < SEGMENT_BYTES; end++) {
        const frame = end + skip === 0 ? (first as FrameInput) : queued[end + skip - 1].chunk;
        problem = checkFrameInput(frame);
        if (problem !== null) break;
        const length = frame.payload === undefined ? 0 : frame.payload.length;
        if (!mask && length >= SEPARATE_PAYLOAD_MIN) {
          alone = end === start;
          break;
        }
        total += frameHeaderLength(length, mask) + length;
      }
      if (alone) {
        const frame = start + skip === 0 ? (first as FrameInput) : queued[start + skip - 1].chunk;
        const payload = frame.payload as Uint8Array;
        const header = Buffer.allocUnsafe(frameHeaderLength(payload.length, false));
        writeFrameHeader(header, 0, headerByte(frame), payload.length, false);
        this.push(header);
        more = this.push(toBuffer(payload));
        start++;
        continue;
      }
      if (end === start) break;
      // Pushed whole: a subarray of it would cost more than the copies of the small payloads in it.
      const out = Buffer.allocUnsafe(total);
      let position = 0;
      for (let i = start; i < end; i++) {
        const frame = i + skip === 0 ? (first as FrameInput) : queued[i + skip - 1].chunk;
        const payload = frame.payload;
        const length = payload === undefined ? 0 : payload.length;
        position += writeFrameHeader(out, position, headerByte(frame), length, mask);
        if (length === 0 || payload === undefined) continue;
        if (mask) maskInto(payload, out, position, position - 4);
        else out.set(payload, position);
        position += length;
      }
      more = this.push(out);
      start = end;
    }
    if (problem !== null) {
      const error = new TypeError(`FrameEncoder: ${problem}`);
      if (callback !== null) callback(error);
      else this.destroy(error);
      return;
    }
    if (callback === null) return;
    // As Transform does: the next batch waits while the readable side is over its high-water mark.
    if (more) callback();
    else this.waiting = callback;
  }
}
