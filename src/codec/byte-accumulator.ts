// Pieces smaller than this are copied into a shared slab instead of being kept as separate views:
// a flood of 1-byte pieces then costs about one byte each, not a Buffer object each (ws 8.21, undici).
const COALESCE_BELOW = 4096;
const SLAB_SIZE = 16 * 1024;

/**
 * Collects the pieces of a payload or message and joins them once at the end, so many small
 * pieces never cause quadratic concatenation and never cost memory out of proportion to their bytes.
 */
export class ByteAccumulator {
  /** Bytes collected so far. */
  length = 0;
  private parts: Buffer[] = [];
  private slab: Buffer | null = null;
  private slabStart = 0;
  private slabEnd = 0;
  private readonly compactViews: boolean;

  /**
   * `compactViews`: copy a piece whose memory block is more than twice its size. Frames of one message
   * can be padded apart with other frames (a 4 KiB fragment alone in a 64 KiB chunk), so a message's
   * fragments need it; one frame's payload is contiguous on the wire, so at most its first and last
   * chunks are shared and the parser keeps its pieces as they are.
   */
  constructor(options: { compactViews?: boolean } = {}) {
    this.compactViews = options.compactViews ?? false;
  }

  /**
   * Adds a piece. Large pieces are kept by reference (so the caller must not reuse their memory), except
   * views into a much larger block when `compactViews` is on, which are copied so they never pin the block.
   */
  push(piece: Buffer): void {
    const size = piece.length;
    if (size === 0) return;
    this.length += size;
    if (this.compactViews && piece.buffer.byteLength > 2 * size) {
      // A view into a much larger block (a 4 KiB fragment in a 64 KiB socket chunk): keeping it would hold
      // the whole block, 16 times its bytes, for as long as the message is assembled.
      if (size < COALESCE_BELOW) this.copyIntoSlab(piece);
      else {
        this.sealSlab();
        this.parts.push(Buffer.from(piece));
      }
      return;
    }
    if (size < COALESCE_BELOW) {
      this.copyIntoSlab(piece);
      return;
    }
    this.sealSlab();
    this.parts.push(piece);
  }

  private copyIntoSlab(piece: Buffer): void {
    const size = piece.length;
    if (this.slab === null || this.slab.length - this.slabEnd < size) {
      this.sealSlab();
      this.slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      this.slabStart = this.slabEnd = 0;
    }
    piece.copy(this.slab, this.slabEnd);
    this.slabEnd += size;
  }

  /** Returns all bytes as one Buffer (without copying when there is a single piece) and empties the accumulator. */
  take(): Buffer {
    this.sealSlab();
    const parts = this.parts;
    const result = parts.length === 1 ? parts[0] : Buffer.concat(parts, this.length);
    this.reset();
    return result;
  }

  /** Hands over the pieces collected, in order, and empties the accumulator. */
  drain(): Buffer[] {
    this.sealSlab();
    const parts = this.parts;
    this.reset();
    return parts;
  }

  /** Drops everything collected. */
  reset(): void {
    this.parts = [];
    this.slab = null;
    this.slabStart = this.slabEnd = 0;
    this.length = 0;
  }

  // Moves the slab's filled region into `parts`, keeping the rest of the slab for later small pieces.
  private sealSlab(): void {
    if (this.slab !== null && this.slabEnd > this.slabStart) {
      this.parts.push(this.slab.subarray(this.slabStart, this.slabEnd));
      this.slabStart = this.slabEnd;
    }
  }
}
