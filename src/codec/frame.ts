/** WebSocket opcodes (RFC 6455 §5.2). 0x3–0x7 and 0xB–0xF are reserved. */
export enum Opcode {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xa,
}

/** One wire frame, with its payload unmasked. */
export interface Frame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  payload: Buffer;
}

/** A frame to encode: `fin` defaults to true and the RSV bits to false. */
export interface FrameInput {
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  opcode: number;
  payload?: Uint8Array;
}

/** Control frames (Close, Ping, Pong) carry at most this many payload bytes (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** True for Close, Ping and Pong: the opcodes with the high bit set. */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** True for the six opcodes RFC 6455 defines; the reserved ones are protocol errors. */
export function isKnownOpcode(opcode: number): boolean {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa);
}
