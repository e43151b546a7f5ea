import { ByteAccumulator } from '../codec/byte-accumulator';
import { parseClosePayload } from '../codec/close-payload';
import { Frame, Opcode } from '../codec/frame';
import type { FrameSink, PayloadObserver } from '../codec/frame-parser';
import { Utf8Validator, isValidUtf8 } from '../codec/utf8';
import { CloseCode, WebSocketError } from '../errors';
import type { PerMessageDeflate } from '../extensions/permessage-deflate';

/** The two kinds of data message. */
export type MessageType = 'text' | 'binary';

/** Where a message streamed with `nextReader()` goes, a fragment at a time. */
export interface MessageStreamTarget {
  /** Returns false when the consumer wants no more for now. */
  pushFragment(data: Buffer): boolean;
  endMessage(): void;
  failMessage(err: Error): void;
}

/** What the receiver reports to its connection (the WebSocket itself). */
export interface ReceiverSink {
  /** A whole message; false asks the receiver to stop reading until `unblock()`. */
  handleMessage(type: MessageType, data: Buffer): boolean;
  /** A stream waiting for the next message (`nextReader()`), or null to assemble it whole. */
  takeStreamTarget(type: MessageType): MessageStreamTarget | null;
  /** False asks the receiver to stop reading until `unblock()` (the pong could not be flushed yet). */
  handlePing(payload: Buffer): boolean;
  handlePong(payload: Buffer): void;
  handleClose(code: number, reason: string): void;
  /** The peer violated the protocol: the connection must be failed with `err.closeCode`. */
  handleProtocolError(err: WebSocketError): void;
  /** Parsing may continue after an asynchronous pause. */
  resumeReading(): void;
}

/** Options of the receiver. */
export interface ReceiverOptions {
  maxPayload: number;
  deflate: PerMessageDeflate | null;
}

// Bits of Receiver.bits.
const enum Bit {
  InMessage = 1,
  Compressed = 2,
  Prevalidated = 4,
  Blocked = 8,
  Inflating = 16,
  Done = 32,
}

/**
 * Turns frames into messages (RFC 6455 §5.4–§5.6): enforces the fragmentation rules, validates text
 * as UTF-8 fragment by fragment, enforces `maxPayload` on whole messages, inflates compressed ones in
 * order, and answers control frames at once, even between the fragments of a message.
 * Its `onFrame` is the FrameParser's handler: returning false pauses the parser until the blocking
 * cause clears and `sink.resume()` is called. It is also the parser's PayloadObserver: a text frame that
 * spans reads is validated piece by piece as it arrives, so an invalid byte fails in the read that brings it.
 */
export class Receiver implements PayloadObserver, FrameSink {
  private readonly sink: ReceiverSink;
  private readonly maxPayload: number;
  private readonly deflate: PerMessageDeflate | null;

  private type: MessageType = 'binary';
  private received = 0;
  // inMessage, compressed, prevalidated, blocked, inflating, done: one bit each (see Bit), one field in every connection.
  private bits = 0;
  // Made on first use: whole single-frame messages, the common case, need neither.
  private fragmentsStore: ByteAccumulator | null = null;
  private utf8Store: Utf8Validator | null = null;
  private stream: MessageStreamTarget | null = null;

  // A fragmented message is in progress.
  private get inMessage(): boolean {
    return (this.bits & Bit.InMessage) !== 0;
  }
  private set inMessage(value: boolean) {
    this.bits = value ? this.bits | Bit.InMessage : this.bits & ~Bit.InMessage;
  }
  // The message in progress is compressed.
  private get compressed(): boolean {
    return (this.bits & Bit.Compressed) !== 0;
  }
  private set compressed(value: boolean) {
    this.bits = value ? this.bits | Bit.Compressed : this.bits & ~Bit.Compressed;
  }
  // The frame being completed was already validated piece by piece (see observe()).
  private get prevalidated(): boolean {
    return (this.bits & Bit.Prevalidated) !== 0;
  }
  private set prevalidated(value: boolean) {
    this.bits = value ? this.bits | Bit.Prevalidated : this.bits & ~Bit.Prevalidated;
  }
  // Reasons the parser is paused (blocked, inflating, done); it resumes once none is left.
  private get blocked(): boolean {
    return (this.bits & Bit.Blocked) !== 0;
  }
  private set blocked(value: boolean) {
    this.bits = value ? this.bits | Bit.Blocked : this.bits & ~Bit.Blocked;
  }
  private get inflating(): boolean {
    return (this.bits & Bit.Inflating) !== 0;
  }
  private set inflating(value: boolean) {
    this.bits = value ? this.bits | Bit.Inflating : this.bits & ~Bit.Inflating;
  }
  private get done(): boolean {
    return (this.bits & Bit.Done) !== 0;
  }
  private set done(value: boolean) {
    this.bits = value ? this.bits | Bit.Done : this.bits & ~Bit.Done;
  }

  constructor(options: ReceiverOptions, sink: ReceiverSink) {
    this.maxPayload = options.maxPayload;
    this.deflate = options.deflate;
    this.sink = sink;
  }

  /** The consumer (or the socket) can take more: resume parsing if nothing else holds it. */
  unblock(): void {
    if (!this.blocked) return;
    this.blocked = false;
    if (!this.inflating && !this.done) this.sink.resumeReading();
  }

  /** True while a message is being streamed to a `nextReader()` consumer. */
  get isStreaming(): boolean {
    return this.stream !== null;
  }

  /**
   * Stops delivering anything: the connection is closing or closed. A streamed message in progress
   * fails with `err` (pass null only when `isStreaming` is false).
   */
  stop(err: Error | null): void {
    if (this.done) return;
    this.done = true;
    this.fragmentsStore?.reset();
    const stream = this.stream;
    this.stream = null;
    if (stream !== null) stream.failMessage(err ?? new WebSocketError(CloseCode.Abnormal, 'The connection ended mid-message'));
  }

  /** @internal PayloadObserver: watch the pieces of an uncompressed text frame that spans reads. */
  observe(opcode: number, rsv1: boolean): boolean {
    if (this.done || rsv1) return false;
    if (opcode === Opcode.Text) {
      // A text frame inside a fragmented message is refused once complete; its bytes are not worth checking.
      if (this.inMessage) return false;
      this.utf8.reset();
    } else if (opcode !== Opcode.Continuation || !this.inMessage || this.type !== 'text' || this.compressed) {
      return false;
    }
    this.prevalidated = true;
    return true;
  }

  /** @internal PayloadObserver: the next piece of a watched text frame. */
  piece(data: Buffer): void {
    if (!this.utf8.write(data)) throw new WebSocketError(CloseCode.InvalidPayload, 'Text message is not valid UTF-8');
  }

  /** The FrameParser's handler (the receiver is its FrameSink: a method, not a closure per connection). */
  onFrame(frame: Frame): boolean {
    if (this.done) return false;
    switch (frame.opcode) {
      case Opcode.Text:
      case Opcode.Binary:
        if (this.inMessage) return this.fail(CloseCode.ProtocolError, 'A new data frame arrived inside a fragmented message');
        this.startMessage(frame);
        return this.onData(frame.payload, frame.fin);
      case Opcode.Continuation:
        if (!this.inMessage) return this.fail(CloseCode.ProtocolError, 'A continuation frame arrived with no message to continue');
        return this.onData(frame.payload, frame.fin);
      case Opcode.Ping:
        if (!this.sink.handlePing(frame.payload)) this.blocked = true;
        return !this.blocked;
      case Opcode.Pong:
        this.sink.handlePong(frame.payload);
        return true;
      case Opcode.Close:
        return this.onCloseFrame(frame.payload);
      default:
        // The parser rejects reserved opcodes before they get here.
        return this.fail(CloseCode.ProtocolError, `Unexpected opcode ${frame.opcode}`);
    }
  }

  private startMessage(frame: Frame): void {
    this.inMessage = true;
    this.type = frame.opcode === Opcode.Text ? 'text' : 'binary';
    this.compressed = frame.rsv1;
    this.received = 0;
    this.stream = this.sink.takeStreamTarget(this.type);
  }

  private onData(payload: Buffer, fin: boolean): boolean {
    if (!this.compressed) {
      if (!this.prevalidated) return this.accept(payload, fin, false);
      this.prevalidated = false;
      return this.accept(payload, fin, true);
    }
    const deflate = this.deflate as PerMessageDeflate;
    let returned = false;
    let proceed = true;
    this.inflating = true;
    // zlib counts what the whole message inflates to. Whole messages are bounded by maxPayload; a
    // streamed one is never held whole, so each of its frames may inflate to maxPayload more.
    const limit = this.stream === null ? this.maxPayload : this.received + this.maxPayload;
    // Text is validated as zlib produces it, so invalid UTF-8 fails before the rest is inflated.
    const validator = this.type === 'text' ? this.utf8 : null;
    deflate.decompress(payload, fin, limit, (err, data) => {
      this.inflating = false;
      if (this.done) return;
      if (err) {
        proceed = this.failWith(
          err instanceof WebSocketError ? err : new WebSocketError(CloseCode.InvalidPayload, err.message, { cause: err }),
        );
      } else {
        proceed = this.accept(data ?? Buffer.alloc(0), fin, true);
      }
      if (returned && proceed && !this.blocked) this.sink.resumeReading();
    }, validator);
    returned = true;
    return !this.inflating && proceed;
  }

  // Takes the (inflated) bytes of one frame of the current message. `validated`: its UTF-8 was already
  // fed to the validator (piece by piece as it arrived, or as zlib produced it); only the end is left to check.
  private accept(data: Buffer, fin: boolean, validated: boolean): boolean {
    const text = this.type === 'text';
    const stream = this.stream;
    if (stream !== null) {
      this.received += data.length;
      if (text && !validated && !this.utf8.write(data)) return this.invalidUtf8();
      if (fin && text && !this.utf8.end()) return this.invalidUtf8();
      const more = data.length === 0 || stream.pushFragment(data);
      if (fin) {
        this.inMessage = false;
        this.stream = null;
        stream.endMessage();
      }
      if (!more) this.blocked = true;
      return !this.blocked;
    }

    this.received += data.length;
    if (this.received > this.maxPayload) {
      return this.fail(CloseCode.MessageTooBig, `Message of more than ${this.maxPayload} bytes (maxPayload)`);
    }
    let message: Buffer;
    if (fin && (this.fragmentsStore === null || this.fragmentsStore.length === 0)) {
      // The common case: a whole message in one frame, validated in one call, never copied.
      if (text && !(validated ? this.utf8.end() : isValidUtf8(data))) return this.invalidUtf8();
      message = data;
    } else {
      if (text && !validated && !this.utf8.write(data)) return this.invalidUtf8();
      this.fragments.push(data);
      if (!fin) return true;
      if (text && !this.utf8.end()) return this.invalidUtf8();
      message = this.fragments.take();
    }
    this.inMessage = false;
    if (!this.sink.handleMessage(this.type, message)) this.blocked = true;
    return !this.blocked;
  }

  private get fragments(): ByteAccumulator {
    return (this.fragmentsStore ??= new ByteAccumulator({ compactViews: true }));
  }

  private get utf8(): Utf8Validator {
    return (this.utf8Store ??= new Utf8Validator());
  }

  private onCloseFrame(payload: Buffer): boolean {
    let close: { code: number; reason: string };
    try {
      close = parseClosePayload(payload);
    } catch (err) {
      return this.failWith(err as WebSocketError);
    }
    // Nothing after a Close frame is read (RFC 6455 §5.5.1).
    this.stop(this.stream === null ? null : new WebSocketError(CloseCode.Abnormal, 'The peer closed the connection in the middle of a message'));
    this.sink.handleClose(close.code, close.reason);
    return false;
  }

  private invalidUtf8(): boolean {
    return this.fail(CloseCode.InvalidPayload, 'Text message is not valid UTF-8');
  }

  private fail(code: number, message: string): boolean {
    return this.failWith(new WebSocketError(code, message));
  }

  private failWith(err: WebSocketError): boolean {
    if (this.done) return false;
    this.stop(err);
    this.sink.handleProtocolError(err);
    return false;
  }
}
