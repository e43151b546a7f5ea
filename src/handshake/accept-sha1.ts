// SHA-1 (FIPS 180-4 §6.1) specialised to the one message a WebSocket server hashes: a valid 24-character
// Sec-WebSocket-Key followed by the RFC 6455 GUID, 60 bytes in all.
//
// Why not node:crypto: under handshake load the native hash costs about 2.8 µs a call (OpenSSL 3 looks the
// digest up and sets up a context every time, with cold caches between connections), against well under
// a microsecond here. SHA-1 is not relied on for secrecy in the handshake (RFC 6455 §10.8): it only proves
// that the server read the key. Tests compare this function with node:crypto on random keys.

/** The GUID of RFC 6455 §1.3 that makes the accept value specific to WebSocket servers. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// Message words 6–14: the GUID's 36 bytes, big-endian, after the key's 24 bytes (words 0–5).
const GUID_WORDS = new Int32Array(9);
for (let i = 0; i < 9; i++) {
  GUID_WORDS[i] =
    (WEBSOCKET_GUID.charCodeAt(4 * i) << 24) |
    (WEBSOCKET_GUID.charCodeAt(4 * i + 1) << 16) |
    (WEBSOCKET_GUID.charCodeAt(4 * i + 2) << 8) |
    WEBSOCKET_GUID.charCodeAt(4 * i + 3);
}

// The 60-byte message leaves room in its first block for the 0x80 padding byte only (word 15); the second
// block is zeros and the bit length (480). It is the same for every key, so its schedule is computed once.
const SECOND_BLOCK = new Int32Array(80);
SECOND_BLOCK[15] = 60 * 8;
expandSchedule(SECOND_BLOCK);

// Scratch schedule for the first block (calls never overlap: there is no await inside).
const schedule = new Int32Array(80);

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_CODES = new Uint8Array(64);
for (let i = 0; i < 64; i++) BASE64_CODES[i] = BASE64.charCodeAt(i);

function expandSchedule(w: Int32Array): void {
  for (let t = 16; t < 80; t++) {
    const x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
    w[t] = (x << 1) | (x >>> 31);
  }
}

// The five state words, updated in place by compress().
const state = new Int32Array(5);

// Round constants as int32 (two of them are above 2^31), and every sum truncated with `| 0` as it is
// formed: V8 then keeps the rounds in 32-bit integer arithmetic instead of falling back to doubles.
const K0 = 0x5a827999;
const K1 = 0x6ed9eba1;
const K2 = 0x8f1bbcdc | 0;
const K3 = 0xca62c1d6 | 0;

// The 80 rounds in their four stages, each its own loop: no per-round branch on the stage.
function compress(w: Int32Array): void {
  let a = state[0];
  let b = state[1];
  let c = state[2];
  let d = state[3];
  let e = state[4];
  let t = 0;
  for (; t < 20; t++) {
    const temp = (((((a << 5) | (a >>> 27)) + (((b & c) | (~b & d)) | 0)) | 0) + ((((e + K0) | 0) + w[t]) | 0)) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (; t < 40; t++) {
    const temp = (((((a << 5) | (a >>> 27)) + ((b ^ c ^ d) | 0)) | 0) + ((((e + K1) | 0) + w[t]) | 0)) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (; t < 60; t++) {
    const temp = (((((a << 5) | (a >>> 27)) + (((b & c) | (b & d) | (c & d)) | 0)) | 0) + ((((e + K2) | 0) + w[t]) | 0)) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (; t < 80; t++) {
    const temp = (((((a << 5) | (a >>> 27)) + ((b ^ c ^ d) | 0)) | 0) + ((((e + K3) | 0) + w[t]) | 0)) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
}

/**
 * base64(SHA-1(key + GUID)) for a key that {@link isValidKey} accepted (24 ASCII characters). Any other
 * input gives a meaningless result: callers check the key first.
 */
export function acceptKeyOfValidKey(key: string): string {
  const w = schedule;
  for (let i = 0; i < 6; i++) {
    w[i] = (key.charCodeAt(4 * i) << 24) | (key.charCodeAt(4 * i + 1) << 16) | (key.charCodeAt(4 * i + 2) << 8) | key.charCodeAt(4 * i + 3);
  }
  w.set(GUID_WORDS, 6);
  w[15] = 0x80000000 | 0;
  expandSchedule(w);
  state[0] = 0x67452301;
  state[1] = 0xefcdab89 | 0;
  state[2] = 0x98badcfe | 0;
  state[3] = 0x10325476;
  state[4] = 0xc3d2e1f0 | 0;
  compress(w);
  compress(SECOND_BLOCK);
  return base64OfState();
}

// The 20 digest bytes (the state words, big-endian) in base64: 6 groups of 3 bytes, then 2 bytes and '='.
function base64OfState(): string {
  const s0 = state[0];
  const s1 = state[1];
  const s2 = state[2];
  const s3 = state[3];
  const s4 = state[4];
  // Groups of 24 bits: bytes 0–2, 3–5, 6–8, 9–11, 12–14, 15–17, then bytes 18–19.
  const g0 = s0 >>> 8;
  const g1 = ((s0 & 0xff) << 16) | (s1 >>> 16);
  const g2 = ((s1 & 0xffff) << 8) | (s2 >>> 24);
  const g3 = s2 & 0xffffff;
  const g4 = s3 >>> 8;
  const g5 = ((s3 & 0xff) << 16) | (s4 >>> 16);
  const last = (s4 & 0xffff) << 2; // 16 bits padded to 18: three characters
  const c = BASE64_CODES;
  return String.fromCharCode(
    c[g0 >>> 18], c[(g0 >>> 12) & 63], c[(g0 >>> 6) & 63], c[g0 & 63],
    c[g1 >>> 18], c[(g1 >>> 12) & 63], c[(g1 >>> 6) & 63], c[g1 & 63],
    c[g2 >>> 18], c[(g2 >>> 12) & 63], c[(g2 >>> 6) & 63], c[g2 & 63],
    c[g3 >>> 18], c[(g3 >>> 12) & 63], c[(g3 >>> 6) & 63], c[g3 & 63],
    c[g4 >>> 18], c[(g4 >>> 12) & 63], c[(g4 >>> 6) & 63], c[g4 & 63],
    c[g5 >>> 18], c[(g5 >>> 12) & 63], c[(g5 >>> 6) & 63], c[g5 & 63],
    c[last >>> 12], c[(last >>> 6) & 63], c[last & 63],
    0x3d,
  );
}
