import { Readable } from 'stream';
import { Frame, FrameDecoder, FrameDecoderOptions, FrameEncoder, FrameEncoderOptions, FrameInput } from '../../src';

/** Decodes `bytes`, fed as the given chunks, into frames; rejects with the decoder's error. */
export async function decodeChunks(chunks: Buffer[], options: FrameDecoderOptions = {}): Promise<Frame[]> {
  const decoder = new FrameDecoder(options);
  const frames: Frame[] = [];
  // Copies, because the decoder unmasks in place and tests reuse their inputs.
  const source = Readable.from(chunks.map((c) => Buffer.from(c)), { objectMode: false });
  source.pipe(decoder);
  for await (const frame of decoder) frames.push(frame as Frame);
  return frames;
}

/** Encodes frames into one Buffer. */
export async function encodeFrames(frames: FrameInput[], options: FrameEncoderOptions = {}): Promise<Buffer> {
  const encoder = new FrameEncoder(options);
  const out: Buffer[] = [];
  encoder.on('data', (b: Buffer) => out.push(b));
  const done = new Promise<void>((resolve, reject) => {
    encoder.on('end', resolve);
    encoder.on('error', reject);
  });
  for (const f of frames) encoder.write(f);
  encoder.end();
  await done;
  return Buffer.concat(out);
}

/** Splits `bytes` at the given offsets (sorted, deduplicated, within range). */
export function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(last, p));
    last = p;
  }
  chunks.push(bytes.subarray(last));
  return chunks;
}

export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}
