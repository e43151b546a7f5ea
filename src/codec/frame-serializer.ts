import { FrameInput, MAX_CONTROL_PAYLOAD, isControlOpcode, isKnownOpcode } from './frame';
import { toBuffer } from './buffers';
import { maskInto } from './mask';
import { writeMaskKey } from './mask-key';

/** The first header byte: FIN, RSV1–3 and the opcode. */
export function firstHeaderByte(fin: boolean, rsv1: boolean, opcode: number, rsv2 = false, rsv3 = false): number {
  return (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (rsv2 ? 0x20 : 0) | (rsv3 ? 0x10 : 0) | (opcode & 0x0f);
}

/** Bytes of the header for a payload of `length`, with the shortest length encoding (RFC 6455 §5.2). */
export function frameHeaderLength(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Writes a frame header into `target` at `offset` and returns its length. With `masked`, a fresh
 * crypto-random key follows the length; the payload must then be masked with those 4 bytes.
 */
export function writeFrameHeader(target: Buffer, offset: number, firstByte: number, length: number, masked: boolean): number {
  target[offset] = firstByte;
  const maskBit = masked ? 0x80 : 0;
  let end: number;
  if (length < 126) {
    target[offset + 1] = maskBit | length;
    end = offset + 2;
  } else if (length < 0x10000) {
    target[offset + 1] = maskBit | 126;
    target[offset + 2] = length >>> 8;
    target[offset + 3] = length & 0xff;
    end = offset + 4;
  } else {
    const high = (length / 0x100000000) >>> 0;
    target[offset + 1] = maskBit | 127;
    target[offset + 2] = high >>> 24;
    target[offset + 3] = (high >>> 16) & 0xff;
    target[offset + 4] = (high >>> 8) & 0xff;
    target[offset + 5] = high & 0xff;
    target[offset + 6] = length >>> 24;
    target[offset + 7] = (length >>> 16) & 0xff;
    target[offset + 8] = (length >>> 8) & 0xff;
    target[offset + 9] = length & 0xff;
    end = offset + 10;
  }
  if (masked) {
    writeMaskKey(target, end);
    end += 4;
  }
  return end - offset;
}

/**
 * Serializes one frame into buffers to write in order. Unmasked: the header, then the caller's
 * payload itself (never copied). Masked: one buffer with the header and a masked copy of the payload.
 * The caller's payload is never mutated.
 */
export function serializeFrame(firstByte: number, payload: Uint8Array, masked: boolean): Buffer[] {
  const length = payload.length;
  const headerLength = frameHeaderLength(length, masked);
  if (!masked) {
    // The server's common case, kept small enough to inline: the 2- and 4-byte headers written in place.
    const header = Buffer.allocUnsafe(headerLength);
    header[0] = firstByte;
    if (length < 126) header[1] = length;
    else if (length < 0x10000) {
      header[1] = 126;
      header[2] = length >>> 8;
      header[3] = length & 0xff;
    } else writeFrameHeader(header, 0, firstByte, length, false);
    if (length === 0) return [header];
    return [header, toBuffer(payload)];
  }
  const out = Buffer.allocUnsafe(headerLength + length);
  writeFrameHeader(out, 0, firstByte, length, true);
  if (length > 0) maskInto(payload, out, headerLength, headerLength - 4);
  return [out];
}

/** Checks a frame handed to the encoder; returns a message describing what is wrong, or null. */
export function checkFrameInput(frame: FrameInput): string | null {
  if (frame === null || typeof frame !== 'object') return 'a frame must be an object';
  const { opcode, payload } = frame;
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xf) return `opcode ${String(opcode)} is not 0–15`;
  if (!isKnownOpcode(opcode)) return `opcode 0x${opcode.toString(16)} is reserved`;
  if (payload !== undefined && !(payload instanceof Uint8Array)) return 'payload must be a Buffer or Uint8Array';
  if (isControlOpcode(opcode)) {
    if (frame.fin === false) return 'control frames cannot be fragmented';
    if (payload !== undefined && payload.length > MAX_CONTROL_PAYLOAD) return 'control frame payload over 125 bytes';
  }
  return null;
}
