import { FrameInput, MAX_CONTROL_PAYLOAD, isControlOpcode, isKnownOpcode } from './frame';
import { applyMask } from './mask';
import { writeMaskKey } from './mask-key';

// Unmasked payloads up to this size are copied behind their header into one buffer: one small copy
// is cheaper than a second write. Larger ones go out as [header, payload] without a copy.
const MERGE_MAX = 1024;

const EMPTY = Buffer.alloc(0);

/** Bytes of the header for a payload of `length`, with the shortest length encoding (RFC 6455 §5.2). */
export function frameHeaderLength(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Writes a frame header into `target` at `offset` and returns its length. With `masked`, a fresh
 * crypto-random key follows the length; the caller masks the payload with `target[end-4 .. end]`.
 */
export function writeFrameHeader(
  target: Buffer,
  offset: number,
  fin: boolean,
  rsv1: boolean,
  opcode: number,
  length: number,
  masked: boolean,
  rsv2 = false,
  rsv3 = false,
): number {
  target[offset] =
    (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (rsv2 ? 0x20 : 0) | (rsv3 ? 0x10 : 0) | (opcode & 0x0f);
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
    target[offset + 1] = maskBit | 127;
    target.writeUInt32BE(Math.floor(length / 0x100000000), offset + 2);
    target.writeUInt32BE(length >>> 0, offset + 6);
    end = offset + 10;
  }
  if (masked) {
    writeMaskKey(target, end);
    end += 4;
  }
  return end - offset;
}

/**
 * Serializes one frame into buffers to write in order: one buffer for masked or small frames, or the
 * header followed by the caller's payload itself for large unmasked ones. The payload is never mutated.
 */
export function serializeFrame(
  fin: boolean,
  rsv1: boolean,
  opcode: number,
  payload: Uint8Array,
  masked: boolean,
  rsv2 = false,
  rsv3 = false,
): Buffer[] {
  const length = payload.length;
  const headerLength = frameHeaderLength(length, masked);
  if (!masked && length > MERGE_MAX) {
    const header = Buffer.allocUnsafe(headerLength);
    writeFrameHeader(header, 0, fin, rsv1, opcode, length, false, rsv2, rsv3);
    return [header, toBuffer(payload)];
  }
  const out = Buffer.allocUnsafe(headerLength + length);
  writeFrameHeader(out, 0, fin, rsv1, opcode, length, masked, rsv2, rsv3);
  if (length > 0) {
    out.set(payload, headerLength);
    if (masked) applyMask(out.subarray(headerLength), out.subarray(headerLength - 4, headerLength));
  }
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

/** A view of `data` as a Buffer, without copying. */
export function toBuffer(data: Uint8Array): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return data.length === 0 ? EMPTY : Buffer.from(data.buffer, data.byteOffset, data.length);
}
