// Node-stream adapters around a WebSocket, for `pipeline()` composition: the WebSocket's own `readable` and
// `writable` carry whole messages, but a relay, a file transfer or a transform chain wants one Duplex whose
// lifetime is tied to the connection's — errors on either side close the connection, a Close ends the stream.
import { Duplex } from 'stream';
import { toBuffer } from '../codec/buffers';
import { closeCodeFor } from '../codec/close-payload';
import { isValidUtf8 } from '../codec/utf8';
import type { Message, MessageType, WebSocket } from '../connection/websocket';
import { CloseCode, CloseError, WebSocketError } from '../errors';
import { PreparedMessage } from '../connection/prepared-message';

/** What a message Duplex accepts: a whole {@link Message}, a string (text), bytes (binary) or a {@link PreparedMessage}. */
export type MessageChunk = Message | string | Uint8Array | PreparedMessage;

/** Options shared by {@link createMessageDuplex} and {@link createByteDuplex}. */
export interface WebSocketDuplexOptions {
  /**
   * Items (message Duplex) or bytes (byte Duplex) buffered on the readable side before reading from the
   * socket pauses. Messages the connection has already received are buffered in addition (at most 16).
   */
  readableHighWaterMark?: number;
  /** Items (message Duplex) or bytes (byte Duplex) buffered on the writable side before `write()` returns false. */
  writableHighWaterMark?: number;
  /**
   * Whether ending the writable side closes the connection with 1000 (the default), as a WebSocket has no
   * half-close. Set false when the connection outlives the stream (e.g. one upload on a long-lived socket).
   */
  closeOnFinish?: boolean;
}

/** Options of {@link createByteDuplex}. */
export interface ByteDuplexOptions extends WebSocketDuplexOptions {
  /**
   * The type of the message each written chunk becomes. Default 'binary'. With 'text', a UTF-8 character
   * split across two chunks is held back until it is whole, and invalid UTF-8 fails the stream (and closes
   * the connection with 1007) rather than reaching the peer, which would fail the connection anyway.
   */
  type?: MessageType;
}

/**
 * Whether a read that failed with `err` is the normal end of the message stream: the peer sent a Close
 * (any code — closing is the peer's decision to make). A failure of the connection or a TCP connection lost
 * without a Close frame (1006) may have cut the data short, so those are errors.
 */
function isOrderlyEnd(err: unknown): boolean {
  return err instanceof CloseError && err.code !== CloseCode.Abnormal;
}

/** Length of the longest prefix of `buf` that does not end inside a UTF-8 sequence. */
function completeUtf8Length(buf: Buffer): number {
  const len = buf.length;
  // A sequence is at most 4 bytes: look at the last 3 bytes for a lead byte whose sequence is incomplete.
  for (let back = 1; back <= Math.min(3, len); back++) {
    const byte = buf[len - back] as number;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: keep looking for the lead
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? len - back : len;
  }
  return len;
}

type Encode = (chunk: unknown) => { data: string | Uint8Array | PreparedMessage; type: MessageType | undefined };

/** The Duplex behind both factories: `decode` maps an incoming message to what is pushed. */
class WebSocketDuplex extends Duplex {
  private readonly ws: WebSocket;
  private readonly decode: (message: Message) => unknown;
  private readonly encode: Encode;
  private readonly closeOnFinish: boolean;
  private readonly textMode: boolean;
  private reading = false;
  private pendingText: Buffer | null = null;

  constructor(
    ws: WebSocket,
    objectMode: boolean,
    decode: (message: Message) => unknown,
    encode: Encode,
    options: WebSocketDuplexOptions,
    textMode: boolean,
  ) {
    super({
      objectMode,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
      // A WebSocket has no half-close: the writable side ending must not end the readable side (nor the reverse).
      allowHalfOpen: true,
    });
    this.ws = ws;
    this.decode = decode;
    this.encode = encode;
    this.closeOnFinish = options.closeOnFinish ?? true;
    this.textMode = textMode;
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    void this.pump();
  }

  private async pump(): Promise<void> {
    for (;;) {
      let message: Message;
      try {
        message = await this.ws.readMessage();
      } catch (err) {
        this.reading = false;
        if (this.destroyed) return;
        if (isOrderlyEnd(err)) this.push(null);
        else this.destroy(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (this.destroyed) return;
      if (!this.push(this.decode(message))) {
        this.reading = false;
        return;
      }
    }
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let out: { data: string | Uint8Array | PreparedMessage; type: MessageType | undefined };
    try {
      out = this.encode(chunk);
      if (this.textMode) {
        const bytes = this.takeCompleteText(out.data as Buffer);
        if (bytes.length === 0) {
          callback();
          return;
        }
        out = { data: bytes, type: 'text' };
      }
    } catch (err) {
      callback(err as Error);
      return;
    }
    this.ws.writeMessage(out.data, out.type).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.pendingText !== null) {
      callback(new WebSocketError(CloseCode.InvalidPayload, 'The text stream ended in the middle of a UTF-8 character'));
      return;
    }
    if (!this.closeOnFinish || this.ws.readyState === 'closed') {
      callback();
      return;
    }
    this.ws.close(CloseCode.Normal).then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.ws.readyState === 'open') {
      // The stream failed (or was abandoned): the peer must learn the exchange is over, and why.
      const { code, reason } = err !== null ? closeCodeFor(err) : { code: CloseCode.Normal, reason: '' };
      this.ws.close(code, reason).catch(() => this.ws.terminate());
    }
    callback(err);
  }

  // Text mode: whole UTF-8 characters only, so that each message is valid on its own.
  private takeCompleteText(chunk: Buffer): Buffer {
    const joined = this.pendingText === null ? chunk : Buffer.concat([this.pendingText, chunk]);
    const end = completeUtf8Length(joined);
    this.pendingText = end < joined.length ? Buffer.from(joined.subarray(end)) : null;
    const whole = joined.subarray(0, end);
    if (!isValidUtf8(whole)) throw new WebSocketError(CloseCode.InvalidPayload, 'Invalid UTF-8 written to a text stream');
    return whole;
  }
}

function encodeMessageChunk(chunk: unknown): { data: string | Uint8Array | PreparedMessage; type: MessageType | undefined } {
  if (typeof chunk === 'string' || chunk instanceof Uint8Array || chunk instanceof PreparedMessage) return { data: chunk, type: undefined };
  if (chunk !== null && typeof chunk === 'object') {
    const m = chunk as Partial<Message>;
    if ((m.type === 'text' || m.type === 'binary') && m.data instanceof Uint8Array) return { data: m.data, type: m.type };
  }
  throw new TypeError('A message Duplex takes a Message ({ type, data }), a string, a Uint8Array or a PreparedMessage');
}

/**
 * One objectMode Duplex for a whole connection, so it can sit anywhere in a `pipeline()`: it reads
 * {@link Message}s and writes {@link MessageChunk}s, with backpressure in both directions.
 *
 * Its lifetime is the connection's: the readable side ends when the peer's Close arrives (an abnormal end,
 * 1006 or a protocol failure, is an error instead, since data may be missing); ending the writable side closes
 * with 1000 (unless `closeOnFinish: false`); destroying the Duplex with an error closes with 1011 — or with the
 * error's own code when it is a {@link WebSocketError} — and the error's message as reason.
 */
export function createMessageDuplex(ws: WebSocket, options: WebSocketDuplexOptions = {}): Duplex {
  return new WebSocketDuplex(ws, true, (message) => message, encodeMessageChunk, options, false);
}

/**
 * A byte-stream Duplex over a connection, for protocols that are really byte streams (a TCP relay, a file
 * transfer): each chunk written becomes one message of `type`, and each message read comes out as its bytes.
 * Message boundaries are not preserved on the way in — as with TCP, the reader must not rely on them.
 * Lifetime rules are those of {@link createMessageDuplex}.
 */
export function createByteDuplex(ws: WebSocket, options: ByteDuplexOptions = {}): Duplex {
  const type: MessageType = options.type ?? 'binary';
  if (type !== 'text' && type !== 'binary') throw new TypeError(`Unknown message type ${String(type)}`);
  const encode: Encode = (chunk) => {
    if (!(chunk instanceof Uint8Array)) throw new TypeError('A byte Duplex takes bytes (Buffer or Uint8Array) or strings');
    return { data: toBuffer(chunk), type };
  };
  return new WebSocketDuplex(ws, false, (message) => message.data, encode, options, type === 'text');
}
