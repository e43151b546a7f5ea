import { CloseCode, WebSocketError } from '../errors';
import { ByteAccumulator } from './byte-accumulator';
import { Frame, MAX_CONTROL_PAYLOAD, Opcode, isControlOpcode, isKnownOpcode } from './frame';
import { viewOf } from './buffers';
import { rotateKey, unmaskInChunk, unmaskInto, unmaskWithKey } from './mask';

/** Options of the frame parser, shared by `FrameDecoder` and the connection. */
export interface FrameParserOptions {
  /**
   * true (server role): every frame must be masked; false (client role): none may be.
   * Left undefined, both are accepted (for tools that read captures of either side).
   */
  requireMask?: boolean;
  /** Largest frame payload accepted, in bytes; larger ones fail with 1009 from the header alone. Default 64 MiB. */
  maxPayload?: number;
  /** Lets RSV1 through on the first frame of a data message (permessage-deflate). */
  allowRsv1?: boolean;
}

/**
 * Receives each complete frame. Returning `false` pauses the parser after this frame; it keeps the
 * unread bytes and carries on from them at `resume()`.
 */
export type FrameHandler = (frame: Frame) => boolean | void;

/** A {@link FrameHandler} as a method: an object that already exists (a connection's receiver) needs no closure. */
export interface FrameSink {
  onFrame(frame: Frame): boolean | void;
}

/**
 * Sees the payload of a frame that spans reads as its bytes arrive, before the frame is complete: lets the
 * connection fail a text frame at its first invalid UTF-8 byte instead of at its end. Frames that lie in one
 * chunk never reach it.
 */
export interface PayloadObserver {
  /** A frame's payload spans reads: true to be shown its pieces (the frame's header fields are given). */
  observe(opcode: number, rsv1: boolean): boolean;
  /** The next piece of the observed payload, unmasked, in order. Throw a WebSocketError to fail the parser. */
  piece(data: Buffer): void;
}

/** The default `maxPayload`: 64 MiB. */
export const DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024;

const enum State {
  Header,
  Length16,
  Length64,
  MaskKey,
  Payload,
  Failed,
}

const EMPTY = Buffer.alloc(0);

// A payload spanning reads gets its own buffer once a quarter of it has arrived: its memory then stays
// within 4 times the bytes received (never the length a peer merely announced), and socket chunks stop
// being held from one read to the next early. Measured against 1/2 and 1/8 at 1 MiB: 1/2 was slower, 1/8 no faster.
const ASSEMBLE_AFTER_ONE_IN = 4;

// The chunk being parsed, its ArrayBuffer and byteOffset, read on its first whole frame: those accessors are
// slow on a Buffer (~50 and ~20 ns a read here) and every frame in the chunk needs them for its view and its
// unmasking. Process-wide rather than per parser (parsing is synchronous: a parser resumed later re-reads them),
// and forgotten at the end of every run, so no chunk is kept past its parsing.
let chunkRead: Buffer | null = null;
let chunkBuffer: ArrayBufferLike | null = null;
let chunkBase = 0;

function forgetChunk(): void {
  chunkRead = null;
  chunkBuffer = null;
}

// Bits of FrameParser.bits.
const enum Bit {
  Paused = 1,
  Masked = 2,
  // The observer takes the spanning payload being read.
  Observed = 4,
  AllowRsv1 = 8,
}

/**
 * The frame-level state machine of RFC 6455 §5.2, free of I/O: header → extended length (16 or
 * 64 bit) → masking key → payload. Bytes go in with `push()` in any chunking; frames come out through
 * the handler. A frame that lies inside one chunk is a view of it, not a copy; masked payloads are
 * unmasked in place, so the parser owns the bytes it is given.
 * A violation throws a WebSocketError whose `closeCode` is the code to send, and the parser stays failed.
 */
export class FrameParser {
  private readonly requireMask: boolean | undefined;
  private readonly maxPayload: number;
  private readonly sink: FrameSink;
  private readonly observer: PayloadObserver | null;

  private state = State.Header;
  // paused, masked, observed, allowRsv1: one bit each (see Bit), one field in every connection's parser.
  private bits = 0;
  // The chunk being read and the read position in it; released once consumed so no view pins it.
  private chunk: Buffer = EMPTY;
  private pos = 0;
  // A header field cut by a chunk boundary is gathered here (at most 8 bytes: the 64-bit length).
  private scratch: Buffer | null = null;
  private scratchFill = 0;
  // Where the field just taken can be read: `chunk` at `fieldPos`, or `scratch` at 0.
  private field: Buffer = EMPTY;
  private fieldPos = 0;

  // The frame's first header byte (FIN, RSV1-3, opcode): one field, not five, in every connection's parser.
  private head = 0;
  private payloadLength = 0;
  // The key as a number, so it never pins the 64 KiB chunk it came in (ws 8.22.2).
  private maskKey = 0;
  // Made on first use: most frames lie inside one chunk and never need it.
  private partial: ByteAccumulator | null = null;
  // The payload of a frame spanning reads, once a quarter of it has arrived, and its bytes so far.
  private assembly: Buffer | null = null;
  private assembled = 0;
  // observed: the observer takes this spanning payload, its early pieces are then unmasked in place as they arrive.

  /** `observer` (optional) is shown the payload of frames that span reads as it arrives. */
  constructor(options: FrameParserOptions, onFrame: FrameHandler | FrameSink, observer?: PayloadObserver) {
    this.requireMask = options.requireMask;
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (options.allowRsv1 === true) this.bits |= Bit.AllowRsv1;
    this.sink = typeof onFrame === 'function' ? { onFrame } : onFrame;
    this.observer = observer ?? null;
    if (!(this.maxPayload >= 0)) throw new RangeError('maxPayload must be a non-negative number');
  }

  private get paused(): boolean {
    return (this.bits & Bit.Paused) !== 0;
  }
  private set paused(value: boolean) {
    this.bits = value ? this.bits | Bit.Paused : this.bits & ~Bit.Paused;
  }
  private get masked(): boolean {
    return (this.bits & Bit.Masked) !== 0;
  }
  private set masked(value: boolean) {
    this.bits = value ? this.bits | Bit.Masked : this.bits & ~Bit.Masked;
  }
  private get observed(): boolean {
    return (this.bits & Bit.Observed) !== 0;
  }
  private set observed(value: boolean) {
    this.bits = value ? this.bits | Bit.Observed : this.bits & ~Bit.Observed;
  }

  private get fin(): boolean {
    return (this.head & 0x80) !== 0;
  }
  private get rsv1(): boolean {
    return (this.head & 0x40) !== 0;
  }
  private get rsv2(): boolean {
    return (this.head & 0x20) !== 0;
  }
  private get rsv3(): boolean {
    return (this.head & 0x10) !== 0;
  }
  private get opcode(): number {
    return this.head & 0x0f;
  }

  /** True while a frame handler has paused the parser with bytes left to read. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** True between frames: no partial frame is held. */
  get isAtFrameBoundary(): boolean {
    return this.state === State.Header && this.scratchFill === 0;
  }

  /**
   * Parses as much of `chunk` as it can. Returns true when it was all consumed, false when a handler
   * paused the parser first (call `resume()` later). Throws a WebSocketError on a protocol violation.
   */
  push(chunk: Buffer): boolean {
    if (this.state === State.Failed) return true;
    if (this.paused) throw new Error('FrameParser.push() while paused: wait for resume()');
    this.chunk = chunk;
    this.pos = 0;
    return this.run();
  }

  /** Continues after a pause. Returns true when the held chunk was consumed, false if paused again. */
  resume(): boolean {
    if (!this.paused) return true;
    this.paused = false;
    return this.run();
  }

  private run(): boolean {
    try {
      while (!this.paused) {
        // A whole frame inside the chunk, the common case for small messages, in one step.
        if (this.state === State.Header && this.scratchFill === 0 && this.readWholeFrame()) continue;
        let progressed: boolean;
        switch (this.state) {
          case State.Header:
            progressed = this.readHeader();
            break;
          case State.Length16:
            progressed = this.readLength16();
            break;
          case State.Length64:
            progressed = this.readLength64();
            break;
          case State.MaskKey:
            progressed = this.readMaskKey();
            break;
          case State.Payload:
            progressed = this.readPayload();
            break;
          default:
            progressed = false;
        }
        if (!progressed) break;
      }
    } catch (err) {
      this.state = State.Failed;
      this.paused = false;
      this.chunk = EMPTY;
      forgetChunk();
      this.partial?.reset();
      this.assembly = null;
      throw err;
    }
    forgetChunk();
    if (this.paused) return false;
    this.chunk = EMPTY;
    this.field = EMPTY;
    return true;
  }

  // Makes `size` bytes of the current field readable at field[fieldPos], gathering across chunks.
  private take(size: number): boolean {
    const available = this.chunk.length - this.pos;
    if (this.scratchFill === 0 && available >= size) {
      this.field = this.chunk;
      this.fieldPos = this.pos;
      this.pos += size;
      return true;
    }
    // The chunk ended on a frame boundary (the usual case): no field is cut, so no scratch buffer is made.
    if (available === 0) return false;
    const n = Math.min(size - this.scratchFill, available);
    const scratch = (this.scratch ??= Buffer.alloc(8));
    this.chunk.copy(scratch, this.scratchFill, this.pos, this.pos + n);
    this.scratchFill += n;
    this.pos += n;
    if (this.scratchFill < size) return false;
    this.scratchFill = 0;
    this.field = scratch;
    this.fieldPos = 0;
    return true;
  }

  // A frame whose header and payload all lie in the chunk (16-bit lengths at most), parsed without the
  // state machine's steps; false, having consumed nothing, for any other frame.
  private readWholeFrame(): boolean {
    const chunk = this.chunk;
    const pos = this.pos;
    const end = chunk.length;
    if (end - pos < 2) return false;
    const b1 = chunk[pos + 1];
    let length = b1 & 0x7f;
    let keyAt = pos + 2;
    if (length === 126) {
      if (end - pos < 4) return false;
      length = (chunk[pos + 2] << 8) | chunk[pos + 3];
      keyAt = pos + 4;
    } else if (length === 127) {
      return false;
    }
    const masked = (b1 & 0x80) !== 0;
    const start = masked ? keyAt + 4 : keyAt;
    if (start + length > end) return false;
    this.decodeHeader(chunk[pos], b1);
    if (length > this.maxPayload) throw tooBig(length, this.maxPayload);
    this.payloadLength = length;
    this.pos = start + length;
    const data = this.viewOfChunk(start, length);
    if (masked && length > 0) {
      const key32 = chunk[keyAt] | (chunk[keyAt + 1] << 8) | (chunk[keyAt + 2] << 16) | (chunk[keyAt + 3] << 24);
      unmaskInChunk(chunk, chunkBase, chunkBuffer as ArrayBufferLike, start, length, key32, data);
    }
    return this.emitFrame(data);
  }

  // A Buffer viewing `length` bytes of the chunk from `start`, the chunk's buffer and offset read once per chunk.
  private viewOfChunk(start: number, length: number): Buffer {
    const chunk = this.chunk;
    if (chunk !== chunkRead) {
      chunkRead = chunk;
      chunkBuffer = chunk.buffer;
      chunkBase = chunk.byteOffset;
    }
    return viewOf(chunkBuffer as ArrayBufferLike, chunkBase + start, length);
  }

  private readHeader(): boolean {
    if (!this.take(2)) return false;
    const length7 = this.decodeHeader(this.field[this.fieldPos], this.field[this.fieldPos + 1]);
    if (length7 === 126) {
      this.state = State.Length16;
    } else if (length7 === 127) {
      this.state = State.Length64;
    } else {
      return this.setPayloadLength(length7);
    }
    return true;
  }

  // Takes the two first header bytes: sets the frame's fields, checks them (throws), returns the 7-bit length.
  private decodeHeader(b0: number, b1: number): number {
    this.head = b0;
    this.masked = (b1 & 0x80) !== 0;
    const length7 = b1 & 0x7f;

    if (!isKnownOpcode(this.opcode)) {
      throw protocolError(`Reserved opcode 0x${this.opcode.toString(16)}`);
    }
    if (this.rsv2 || this.rsv3) {
      throw protocolError(`RSV${this.rsv2 ? 2 : 3} is set but no extension defines it`);
    }
    if (this.rsv1) {
      if ((this.bits & Bit.AllowRsv1) === 0) throw protocolError('RSV1 is set but no extension defines it');
      if (isControlOpcode(this.opcode)) throw protocolError('RSV1 is set on a control frame');
      if (this.opcode === Opcode.Continuation) throw protocolError('RSV1 is set on a continuation frame');
    }
    if (isControlOpcode(this.opcode)) {
      if (!this.fin) throw protocolError('Fragmented control frame');
      if (length7 > MAX_CONTROL_PAYLOAD) throw protocolError(`Control frame payload of ${length7} bytes (max 125)`);
    }
    if (this.requireMask !== undefined && this.masked !== this.requireMask) {
      throw protocolError(this.requireMask ? 'Unmasked frame from a client' : 'Masked frame from a server');
    }
    return length7;
  }

  private readLength16(): boolean {
    if (!this.take(2)) return false;
    return this.setPayloadLength((this.field[this.fieldPos] << 8) | this.field[this.fieldPos + 1]);
  }

  private readLength64(): boolean {
    if (!this.take(8)) return false;
    const high = this.field.readUInt32BE(this.fieldPos);
    const low = this.field.readUInt32BE(this.fieldPos + 4);
    // RFC 6455 §5.2: "the most significant bit MUST be 0" (gorilla CVE-2020-27813 came from ignoring it).
    if (high & 0x80000000) throw protocolError('64-bit payload length with the most significant bit set');
    // Past 2^53 a double loses integer precision; any maxPayload rejects such a length anyway.
    if (high >= 0x200000) throw tooBig(Number.MAX_SAFE_INTEGER, this.maxPayload);
    return this.setPayloadLength(high * 0x100000000 + low);
  }

  private setPayloadLength(length: number): boolean {
    if (length > this.maxPayload) throw tooBig(length, this.maxPayload);
    this.payloadLength = length;
    this.state = this.masked ? State.MaskKey : State.Payload;
    return true;
  }

  private readMaskKey(): boolean {
    if (!this.take(4)) return false;
    this.maskKey = this.field.readInt32LE(this.fieldPos);
    this.state = State.Payload;
    return true;
  }

  private readPayload(): boolean {
    const available = this.chunk.length - this.pos;
    if (this.assembly === null) {
      const partial = this.partial;
      const collected = partial === null ? 0 : partial.length;
      const wanted = this.payloadLength - collected;
      if (collected === 0 && available >= wanted) {
        // The whole payload is in this chunk: a view of it, unmasked in place.
        const data = this.viewOfChunk(this.pos, wanted);
        this.pos += wanted;
        if (this.masked && wanted > 0) unmaskWithKey(data, this.maskKey);
        return this.emitFrame(data);
      }
      if (available === 0) return false;
      // Once per spanning frame, never for a frame that lies in one chunk.
      if (collected === 0) this.observed = this.observer !== null && this.observer.observe(this.opcode, this.rsv1);
      const n = Math.min(wanted, available);
      if ((collected + n) * ASSEMBLE_AFTER_ONE_IN < this.payloadLength) {
        // Too little has arrived: keep the pieces, so memory follows the bytes actually received
        // rather than the length a peer announced.
        const piece = this.chunk.subarray(this.pos, this.pos + n);
        this.pos += n;
        if (this.observed) {
          if (this.masked) unmaskWithKey(piece, rotateKey(this.maskKey, collected));
          (this.observer as PayloadObserver).piece(piece);
        }
        (this.partial ??= new ByteAccumulator()).push(piece);
        return false;
      }
      // Enough is here: the payload gets its own buffer, and every later piece is copied
      // and unmasked into it in one pass, so socket chunks are never held from one read to the next.
      this.assembly = Buffer.allocUnsafe(this.payloadLength);
      this.assembled = 0;
      if (partial !== null && collected > 0) {
        for (const piece of partial.drain()) {
          if (this.observed) this.assembled += piece.copy(this.assembly, this.assembled);
          else this.assemble(piece, 0, piece.length);
        }
      }
    } else if (available === 0) {
      return false;
    }
    const n = Math.min(this.payloadLength - this.assembled, available);
    this.pos += n;
    const from = this.assembled;
    const complete = this.assemble(this.chunk, this.pos - n, this.pos);
    if (this.observed) (this.observer as PayloadObserver).piece((this.assembly as Buffer).subarray(from, this.assembled));
    if (!complete) return false;
    const data = this.assembly as Buffer;
    this.assembly = null;
    return this.emitFrame(data);
  }

  private emitFrame(data: Buffer): boolean {
    this.state = State.Header;
    const frame: Frame = {
      fin: this.fin,
      rsv1: this.rsv1,
      rsv2: this.rsv2,
      rsv3: this.rsv3,
      opcode: this.opcode,
      payload: data,
    };
    if (this.sink.onFrame(frame) === false) this.paused = true;
    return true;
  }

  // Copies source[start, end) to the end of the assembly buffer, unmasking it; true once the payload is complete.
  private assemble(source: Buffer, start: number, end: number): boolean {
    const target = this.assembly as Buffer;
    const piece = start === 0 && end === source.length ? source : source.subarray(start, end);
    if (this.masked) unmaskInto(piece, target, this.assembled, rotateKey(this.maskKey, this.assembled));
    else target.set(piece, this.assembled);
    this.assembled += end - start;
    return this.assembled === this.payloadLength;
  }
}

function protocolError(message: string): WebSocketError {
  return new WebSocketError(CloseCode.ProtocolError, message);
}

function tooBig(length: number, maxPayload: number): WebSocketError {
  return new WebSocketError(CloseCode.MessageTooBig, `Frame payload of ${length} bytes exceeds maxPayload (${maxPayload})`);
}
