// The Sec-WebSocket-Key / Sec-WebSocket-Accept challenge of RFC 6455 §4.1 and §4.2.2.
import { createHash, randomBytes } from 'crypto';
import { acceptKeyOfValidKey, WEBSOCKET_GUID } from './accept-sha1';

export { WEBSOCKET_GUID };

/**
 * The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key: proves the server understood the
 * WebSocket handshake (and is not an HTTP server or cache replaying something), RFC 6455 §4.2.2 step 5.4.
 */
export function computeAcceptKey(key: string): string {
  // A valid key (every key a server answers) takes the specialised SHA-1 of accept-sha1.ts, which costs a
  // fraction of a node:crypto call under handshake load; anything else goes to node:crypto.
  if (isValidKey(key)) return acceptKeyOfValidKey(key);
  return createHash('sha1').update(key + WEBSOCKET_GUID, 'latin1').digest('base64');
}

/**
 * A fresh Sec-WebSocket-Key: 16 random bytes, base64. RFC 6455 §4.1 asks for a nonce "randomly selected"
 * per connection so that intermediaries cannot serve a cached handshake; crypto-grade randomness is cheap.
 */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

function isBase64Char(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2b || // +
    c === 0x2f // /
  );
}

/**
 * True when `key` is what RFC 6455 §4.1 requires of Sec-WebSocket-Key: the base64 of exactly 16 bytes,
 * i.e. 24 characters, 22 from the standard alphabet then `==`. The check is a plain scan (no regular
 * expression) and deliberately as lenient as ws and gorilla about the unused low bits of the 22nd
 * character: no real client sets them, and refusing them would buy nothing.
 */
export function isValidKey(key: unknown): key is string {
  if (typeof key !== 'string' || key.length !== 24) return false;
  for (let i = 0; i < 22; i++) if (!isBase64Char(key.charCodeAt(i))) return false;
  // 22 base64 characters and "==" always decode to exactly 16 bytes.
  return key.charCodeAt(22) === 0x3d && key.charCodeAt(23) === 0x3d;
}
