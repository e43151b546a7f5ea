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

  /** Adds a piece. Large pieces are kept by reference: the caller must not reuse their memory. */
  push(piece: Buffer): void {
    const size = piece.length;
    if (size === 0) return;
    this.length += size;
    if (size < COALESCE_BELOW) {
      if (this.slab === null || this.slab.length - this.slabEnd < size) {
        this.sealSlab();
        this.slab = Buffer.allocUnsafe(SLAB_SIZE);
        this.slabStart = this.slabEnd = 0;
      }
      piece.copy(this.slab, this.slabEnd);
      this.slabEnd += size;
      return;
    }
    this.sealSlab();
    this.parts.push(piece);
  }

  /** Returns all bytes as one Buffer (without copying when there is a single piece) and empties the accumulator. */
  take(): Buffer {
    this.sealSlab();
    const parts = this.parts;
    const result = parts.length === 1 ? parts[0] : Buffer.concat(parts, this.length);
    this.reset();
    return result;
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
