import { Transform, TransformCallback } from 'stream';
import { FrameInput } from './frame';
import { checkFrameInput, serializeFrame } from './frame-serializer';

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
    const buffers = serializeFrame(
      frame.fin ?? true,
      frame.rsv1 ?? false,
      frame.opcode,
      frame.payload ?? new Uint8Array(0),
      this.mask,
      frame.rsv2 ?? false,
      frame.rsv3 ?? false,
    );
    for (const buffer of buffers) this.push(buffer);
    callback();
  }
}
