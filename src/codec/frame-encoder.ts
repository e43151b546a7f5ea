import { Transform, TransformCallback } from 'stream';
import { FrameInput } from './frame';
import { checkFrameInput, firstHeaderByte, serializeFrame } from './frame-serializer';

const EMPTY = new Uint8Array(0);

/** Options of {@link FrameEncoder}. */
export interface FrameEncoderOptions {
  /** true (client role): every frame gets a fresh crypto-random 4-byte masking key. */
  mask?: boolean;
}

/**
 * {@link FrameInput} objects in, wire bytes out, with the shortest length encoding.
 * `fin` defaults to true and the RSV bits to false. The caller's payload is never mutated, and a large
 * unmasked payload is pushed after its header as it is, without being concatenated.
 */
export class FrameEncoder extends Transform {
  private readonly mask: boolean;

  constructor(options: FrameEncoderOptions = {}) {
    super({ writableObjectMode: true, readableObjectMode: false });
    this.mask = options.mask ?? false;
  }

  override _transform(frame: FrameInput, _encoding: BufferEncoding, callback: TransformCallback): void {
    const problem = checkFrameInput(frame);
    if (problem !== null) {
      callback(new TypeError(`FrameEncoder: ${problem}`));
      return;
    }
    const first = firstHeaderByte(frame.fin ?? true, frame.rsv1 ?? false, frame.opcode, frame.rsv2, frame.rsv3);
    const buffers = serializeFrame(first, frame.payload ?? EMPTY, this.mask);
    for (const buffer of buffers) this.push(buffer);
    callback();
  }
}
