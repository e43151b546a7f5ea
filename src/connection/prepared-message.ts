// A message encoded once for many connections (gorilla's prepared.go). It is a connection-level thing —
// writeMessage() takes one — so it lives here; the hub that fans it out (src/fanout/hub.ts) sits above.
import { Opcode } from '../codec/frame';
import { firstHeaderByte, frameHeaderLength, writeFrameHeader } from '../codec/frame-serializer';
import { isValidUtf8 } from '../codec/utf8';
import type { PerMessageDeflate } from '../extensions/permessage-deflate';

/** The message types of a WebSocket data message. */
type DataType = 'text' | 'binary';

// Set only inside preparedFromChecked(): the text payload was already validated, do not scan it again.
let utf8Checked = false;

/** @internal A PreparedMessage of a payload whose UTF-8 was already validated (a broker envelope's). */
export function preparedFromChecked(payload: Buffer, type: DataType): PreparedMessage {
  utf8Checked = true;
  try {
    return new PreparedMessage(payload, type);
  } finally {
    utf8Checked = false;
  }
}

/**
 * A message framed once, to be written to many connections: `hub.publish()` makes one per publish, and
 * `ws.writeMessage(prepared)` takes one wherever a message is accepted.
 *
 * Server frames are unmasked, so every server connection gets the very same bytes: the frame is built on
 * first use and then shared (written as is, never copied). With permessage-deflate, connections that agreed
 * on no server context takeover share one compressed frame per distinct parameter set (window, level,
 * memLevel), compressed on first use; connections with context takeover compress it themselves, in order
 * with their other messages. On a client connection every frame must be masked with its own key, so
 * there the message is framed per connection as any other.
 *
 * The payload is copied once at construction: changing the caller's buffer afterwards changes nothing.
 */
export class PreparedMessage {
  /** 'text' or 'binary'. */
  readonly type: DataType;
  /** @internal The opcode of its frame. */
  readonly opcode: number;
  // The uncompressed frame: header then payload, in one buffer; `payloadStart` is the header length.
  private readonly frameBytes: Buffer;
  private readonly payloadStart: number;
  // Compressed frames by sharedKey: the first in two fields (nearly every server has one parameter set),
  // any other in a Map made on demand.
  private firstKey: string | null = null;
  private firstCompressed: Buffer | null = null;
  private otherCompressed: Map<string, Buffer> | null = null;

  /**
   * `data`: a string (a text message unless `type` says otherwise) or bytes (binary unless `type` is
   * 'text'). Throws a TypeError for other data, an unknown type, or text bytes that are not valid UTF-8
   * (they would make every receiving peer fail its connection with 1007).
   */
  constructor(data: string | Uint8Array, type?: DataType) {
    const messageType = type ?? (typeof data === 'string' ? 'text' : 'binary');
    if (messageType !== 'text' && messageType !== 'binary') {
      throw new TypeError(`Unknown message type ${String(messageType)}`);
    }
    let length: number;
    if (typeof data === 'string') length = Buffer.byteLength(data, 'utf8');
    else if (data instanceof Uint8Array) length = data.length;
    else throw new TypeError('A message is a string or a Uint8Array');
    this.type = messageType;
    this.opcode = messageType === 'text' ? Opcode.Text : Opcode.Binary;
    const headerLength = frameHeaderLength(length, false);
    const frame = Buffer.allocUnsafe(headerLength + length);
    writeFrameHeader(frame, 0, firstHeaderByte(true, false, this.opcode), length, false);
    if (typeof data === 'string') frame.write(data, headerLength, length, 'utf8');
    else frame.set(data, headerLength);
    this.frameBytes = frame;
    this.payloadStart = headerLength;
    if (typeof data !== 'string' && messageType === 'text' && !utf8Checked && !isValidUtf8(this.payload)) {
      throw new TypeError('A text message must be valid UTF-8');
    }
  }

  /** The payload (a view of the shared frame: do not modify it). */
  get data(): Buffer {
    return this.payload;
  }

  /** @internal The payload bytes. */
  get payload(): Buffer {
    return this.frameBytes.subarray(this.payloadStart);
  }

  /** @internal The payload's length in bytes. */
  get length(): number {
    return this.frameBytes.length - this.payloadStart;
  }

  /** @internal The whole uncompressed frame, unmasked: what every server connection without compression gets. */
  get frame(): Buffer {
    return this.frameBytes;
  }

  /**
   * @internal The compressed frame (RSV1 set) for connections whose deflate has this `key` (its sharedKey),
   * made on first request with that deflate's parameters. Throws when zlib fails.
   */
  compressedFrame(key: string, deflate: PerMessageDeflate): Buffer {
    if (this.firstKey === key) return this.firstCompressed as Buffer;
    const cached = this.otherCompressed?.get(key);
    if (cached !== undefined) return cached;
    const payload = deflate.compressShared(this.payload);
    const length = payload.length;
    const headerLength = frameHeaderLength(length, false);
    const frame = Buffer.allocUnsafe(headerLength + length);
    // RSV1 marks a compressed message (RFC 7692 §6).
    writeFrameHeader(frame, 0, firstHeaderByte(true, true, this.opcode), length, false);
    payload.copy(frame, headerLength);
    if (this.firstKey === null) {
      this.firstKey = key;
      this.firstCompressed = frame;
    } else {
      (this.otherCompressed ??= new Map()).set(key, frame);
    }
    return frame;
  }
}
