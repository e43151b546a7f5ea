import { Transform, TransformCallback } from 'stream';
import { CloseCode, WebSocketError } from '../errors';
import { Frame } from './frame';
import { FrameParser, FrameParserOptions } from './frame-parser';

/** Options of {@link FrameDecoder}. */
export type FrameDecoderOptions = FrameParserOptions;

/**
 * Raw WebSocket bytes in (any chunking), one {@link Frame} object per wire frame out.
 * A protocol violation destroys the stream with a WebSocketError whose `closeCode` is the code to send.
 * Bytes written are consumed: masked payloads are unmasked in place, so write a copy if you need the original.
 */
export class FrameDecoder extends Transform {
  private readonly parser: FrameParser;

  constructor(options: FrameDecoderOptions = {}) {
    super({ readableObjectMode: true, writableObjectMode: false });
    this.parser = new FrameParser(options, (frame: Frame) => {
      this.push(frame);
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.parser.push(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (!this.parser.isAtFrameBoundary) {
      callback(new WebSocketError(CloseCode.Abnormal, 'Input ended in the middle of a frame'));
      return;
    }
    callback();
  }
}
