import { Transform, TransformCallback } from 'stream';
import { CloseCode, WebSocketError } from '../errors';
import { Frame } from './frame';
import { FrameHandler, FrameParser, FrameParserOptions } from './frame-parser';

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions extends FrameParserOptions {
  /**
   * Hands each frame to this function instead of pushing it to the readable side. Returning false
   * holds back the write callback until `resumeParsing()`, so a piped source is paused: stream
   * backpressure without an object-mode hop per frame.
   */
  onFrame?: FrameHandler;
}

/**
 * Raw WebSocket bytes in (any chunking), one {@link Frame} object per wire frame out.
 * A protocol violation destroys the stream with a WebSocketError whose `closeCode` is the code to send.
 * Bytes written are consumed: masked payloads are unmasked in place, so write a copy if you need the original.
 */
export class FrameDecoder extends Transform {
  private readonly parser: FrameParser;
  // The write callback held while the frame handler has paused the parser.
  private heldCallback: TransformCallback | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    super({ readableObjectMode: true, writableObjectMode: false });
    const sink = options.onFrame;
    this.parser = new FrameParser(
      options,
      sink ??
        ((frame: Frame) => {
          this.push(frame);
        }),
    );
  }

  /** True while the frame handler holds the decoder paused. */
  get isParsingPaused(): boolean {
    return this.parser.isPaused;
  }

  /** Continues after the `onFrame` handler returned false. */
  resumeParsing(): void {
    if (this.heldCallback === null || this.destroyed) return;
    let consumed: boolean;
    try {
      consumed = this.parser.resume();
    } catch (err) {
      this.release(err as Error);
      return;
    }
    if (consumed) this.release();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let consumed: boolean;
    try {
      consumed = this.parser.push(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    if (consumed) callback();
    else this.heldCallback = callback;
  }

  override _flush(callback: TransformCallback): void {
    if (!this.parser.isAtFrameBoundary) {
      callback(new WebSocketError(CloseCode.Abnormal, 'Input ended in the middle of a frame'));
      return;
    }
    callback();
  }

  override _destroy(err: Error | null, callback: (error: Error | null) => void): void {
    this.heldCallback = null;
    callback(err);
  }

  private release(err?: Error): void {
    const callback = this.heldCallback;
    this.heldCallback = null;
    if (callback !== null) callback(err);
  }
}
