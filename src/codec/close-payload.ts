import { CloseCode, WebSocketError } from '../errors';
import { isValidUtf8 } from './utf8';

/** A Close reason fits in 123 bytes: 125 bytes of control payload less the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * True for the codes an endpoint may put in a Close frame (RFC 6455 §7.4): 1000–1003, 1007–1014
 * (registered with IANA) and 3000–4999 (libraries and applications). 1004–1006, 1015 and
 * everything else are reserved or meaningless on the wire.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
  );
}

/**
 * Reads a received Close payload. An empty payload means "no status" (1005).
 * Throws a WebSocketError with 1002 for a 1-byte payload or a code that may not be sent, and 1007
 * for a reason that is not UTF-8.
 */
export function parseClosePayload(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length === 0) return { code: CloseCode.NoStatus, reason: '' };
  if (payload.length === 1) {
    throw new WebSocketError(CloseCode.ProtocolError, 'Close frame payload of 1 byte: a status code takes 2');
  }
  const code = (payload[0] << 8) | payload[1];
  if (!isValidCloseCode(code)) {
    throw new WebSocketError(CloseCode.ProtocolError, `Invalid close code ${code}`);
  }
  // The common Close carries a code alone: no reason to validate or decode.
  if (payload.length === 2) return { code, reason: '' };
  const reasonBytes = payload.subarray(2);
  if (!isValidUtf8(reasonBytes)) {
    throw new WebSocketError(CloseCode.InvalidPayload, 'Close reason is not valid UTF-8');
  }
  return { code, reason: Buffer.from(reasonBytes.buffer, reasonBytes.byteOffset, reasonBytes.length).toString('utf8') };
}

/**
 * Builds a Close payload: nothing when `code` is undefined, else the code and the reason cut to
 * 123 bytes on a UTF-8 character boundary (so a long reason never becomes invalid UTF-8).
 * Throws a RangeError for a code that may not be sent.
 */
export function buildClosePayload(code?: number, reason = ''): Buffer {
  if (code === undefined) {
    if (reason !== '') throw new TypeError('A close reason needs a close code');
    return Buffer.alloc(0);
  }
  if (!Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new RangeError(`Close code ${code} may not be sent (use 1000–1003, 1007–1014 or 3000–4999)`);
  }
  if (reason === '') {
    const payload = Buffer.allocUnsafe(2);
    payload[0] = code >>> 8;
    payload[1] = code & 0xff;
    return payload;
  }
  const reasonBytes = Buffer.from(reason, 'utf8');
  const reasonLength = utf8PrefixLength(reasonBytes, MAX_CLOSE_REASON_BYTES);
  const payload = Buffer.allocUnsafe(2 + reasonLength);
  payload.writeUInt16BE(code, 0);
  reasonBytes.copy(payload, 2, 0, reasonLength);
  return payload;
}

/**
 * The close code and reason that answer a local error: a WebSocketError keeps its code when it may be
 * sent; anything else is 1011 (internal error). The reason is the message, cut to 123 bytes on a
 * character boundary.
 */
export function closeCodeFor(err: Error): { code: number; reason: string } {
  const code = err instanceof WebSocketError && isValidCloseCode(err.closeCode) ? err.closeCode : CloseCode.InternalError;
  const bytes = Buffer.from(err.message, 'utf8');
  return { code, reason: bytes.toString('utf8', 0, utf8PrefixLength(bytes, MAX_CLOSE_REASON_BYTES)) };
}

/** The longest prefix of `bytes`, at most `limit` long, that does not cut a UTF-8 sequence. */
function utf8PrefixLength(bytes: Uint8Array, limit: number): number {
  if (bytes.length <= limit) return bytes.length;
  let end = limit;
  // Step back over continuation bytes (10xxxxxx) to the lead byte of the cut sequence.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return end;
}
