import * as os from 'os';
import { toBuffer } from './buffers';
import { loadWasmMasker } from './wasm/mask-wasm';

// The word loop XORs 32-bit lanes in the platform's byte order; the rotated key is built to match
// a little-endian layout, so big-endian hosts take the byte loop.
const LITTLE_ENDIAN = os.endianness() === 'LE';

// Below this size the word loop's setup costs more than it saves.
const WORD_LOOP_MIN = 32;

// Below this size a client's masked copy is one fused byte loop; from it, unmaskInto (the addon, or the Wasm
// module). bench/mask.ts, Node 20, loaded 2-core EPYC: the byte loop costs ~1.4 ns a byte, a Wasm or addon call
// ~150 ns whatever the size up to ~200 bytes; they cross between 96 B (fused 140 ns, Wasm 157) and 128 B (171
// against 154).
const FUSED_MAX = 112;

// From these sizes a native addon's loop beats the cost of calling into it (about 50 ns a call here;
// the JS byte loop costs ~1.8 ns a byte, the lane loop ~60 ns to set up): XOR in place, and copy-and-XOR.
const NATIVE_MIN = 32;
const NATIVE_COPY_MIN = 64;
// In place within a chunk whose accessors were read once (unmaskInChunk), the lane loop is as fast as the
// addon's call (~110 ns of N-API) up to here: 47 against 152 ns at 64 B, 153 against 182 at 512 B, 233 against
// 242 at 1 KiB (CPU time, unmaskInChunk over 64 payloads of one 64 KiB chunk in turn).
const NATIVE_RANGE_MIN = 1024;

// Without the addon, from these sizes the WebAssembly SIMD module (copy in, XOR, copy out) beats the JS lane
// loop, measured with bench/mask.ts (`npm run bench:mask`). In place, the JS loop pays no copy, and the module
// wins from ~768 B (318 ns against 334; 1 KiB 344 against 400). Copying, the JS path pays a memcpy plus the
// lane loop and the module wins at every size tried from 16 B on (147 ns against 210); 32 keeps the tiniest
// pieces of a fragmented payload off the module call.
const WASM_MIN = 1024;
const WASM_COPY_MIN = 32;

// Views are cached only over ArrayBuffers up to this size (Node's 8 KiB pool slabs, socket chunks):
// the cache holds one reference, which must never pin a large buffer.
const VIEW_CACHE_MAX = 64 * 1024;

interface NativeMasker {
  mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  unmask(buffer: Buffer, mask: Buffer): void;
}

/**
 * `bufferutil` (the native masking addon `ws` uses) when the application has installed it, else null.
 * wsflow has no runtime dependency: it only picks the addon up. `WSFLOW_NO_BUFFERUTIL=1` turns that off.
 */
function loadNativeMasker(): NativeMasker | null {
  if (process.env.WSFLOW_NO_BUFFERUTIL) return null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const addon = require('bufferutil') as Partial<NativeMasker>;
    return typeof addon.unmask === 'function' && typeof addon.mask === 'function' ? (addon as NativeMasker) : null;
  } catch {
    return null;
  }
}

const native = loadNativeMasker();
// The addon, when installed, is as fast or faster at every size, so it is preferred throughout: in place
// 1.5–2× (one pass over the bytes against three); copying, even up to ~1 KiB (one call each), then 1.2× at
// 4 KiB and ~1.5× from 64 KiB, its loop reading and writing the caller's memory directly where the module must
// copy through its own. So the module is loaded only without it.
const wasm = native === null ? loadWasmMasker() : null;
const nativeKey = Buffer.alloc(4);

// The addon takes the key as a Buffer: a shared one, filled per call (calls are synchronous), with plain
// stores rather than writeInt32LE's range checks.
function setNativeKey(key32: number): void {
  nativeKey[0] = key32;
  nativeKey[1] = key32 >>> 8;
  nativeKey[2] = key32 >>> 16;
  nativeKey[3] = key32 >>> 24;
}

/**
 * Which masking implementation is in use for all but small payloads: 'bufferutil' (the native addon, when the
 * application has installed it), 'wasm' (the built-in WebAssembly SIMD module, the default), or 'js' (where
 * WebAssembly SIMD is unavailable, or with `WSFLOW_NO_WASM=1`).
 */
export const maskImplementation: 'bufferutil' | 'wasm' | 'js' = native !== null ? 'bufferutil' : wasm !== null ? 'wasm' : 'js';

let cachedBuffer: ArrayBufferLike | null = null;
let cachedLanes: Int32Array = new Int32Array(0);

// An Int32Array over the whole ArrayBuffer `buffer`: creating a view per frame costs as much as XORing a
// kilobyte, and consecutive frames mostly share a socket chunk or a pool slab.
function lanesOfBuffer(buffer: ArrayBufferLike): Int32Array {
  if (buffer === cachedBuffer) return cachedLanes;
  const lanes = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
  if (buffer.byteLength <= VIEW_CACHE_MAX) {
    cachedBuffer = buffer;
    cachedLanes = lanes;
  }
  return lanes;
}

/**
 * XORs `data[start .. start+length)` in place with the key whose bytes, first to last, are the
 * little-endian bytes of `key32`. Masking and unmasking are the same operation (RFC 6455 §5.3).
 */
function xorInPlace(data: Uint8Array, start: number, length: number, key32: number): void {
  if (length >= WORD_LOOP_MIN && LITTLE_ENDIAN) xorLanes(data, data.byteOffset, data.buffer, start, length, key32);
  else xorBytes(data, start, length, key32, 0);
}

// xorInPlace with `data`'s byteOffset and buffer given: on a Buffer those accessors are slow (about 20 and 50 ns
// a read here, they are not inlined for Buffer's prototype), so a parser reads them once per chunk, not per frame.
function xorLanes(data: Uint8Array, base: number, buffer: ArrayBufferLike, start: number, length: number, key32: number): void {
  const end = start + length;
  let i = start;
  // Bytes up to a 4-byte aligned address, then whole 32-bit lanes, then the tail.
  const head = (4 - ((base + i) & 3)) & 3;
  for (let j = 0; j < head; j++, i++) data[i] ^= key32 >>> (j << 3);
  // The lanes start `head` bytes into the key: rotate it so lane byte 0 takes key byte `head`.
  const word = rotateKey(key32, head);
  const lanes = lanesOfBuffer(buffer);
  let lane = (base + i) >>> 2;
  const laneEnd = lane + ((end - i) >>> 2);
  const unrolledEnd = laneEnd - ((laneEnd - lane) & 7);
  for (; lane < unrolledEnd; lane += 8) {
    lanes[lane] ^= word;
    lanes[lane + 1] ^= word;
    lanes[lane + 2] ^= word;
    lanes[lane + 3] ^= word;
    lanes[lane + 4] ^= word;
    lanes[lane + 5] ^= word;
    lanes[lane + 6] ^= word;
    lanes[lane + 7] ^= word;
  }
  for (; lane < laneEnd; lane++) lanes[lane] ^= word;
  i = lane * 4 - base;
  xorBytes(data, i, end - i, key32, i - start);
}

// The byte loop: `data[start .. start+length)`, the first byte taking key byte `phase % 4`.
function xorBytes(data: Uint8Array, start: number, length: number, key32: number, phase: number): void {
  const end = start + length;
  // Typed-array stores keep the low 8 bits, so shifting the key into place is enough.
  for (let i = start, j = phase; i < end; i++, j++) data[i] ^= key32 >>> ((j & 3) << 3);
}

function key32At(bytes: Uint8Array, offset: number): number {
  return bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24);
}

/**
 * XORs `data` in place with the 4-byte `mask` (RFC 6455 §5.3), as if `data` started at mask
 * position 0. Masking and unmasking are the same operation.
 */
export function applyMask(data: Uint8Array, mask: Uint8Array): void {
  const length = data.length;
  if (native !== null && length >= NATIVE_MIN) {
    native.unmask(toBuffer(data), toBuffer(mask));
    return;
  }
  if (wasm !== null && length >= WASM_MIN) {
    wasm.xorInPlace(data, 0, length, key32At(mask, 0));
    return;
  }
  xorInPlace(data, 0, length, key32At(mask, 0));
}

/**
 * Writes `source` XOR the key found at `target[keyOffset .. keyOffset+4)` into `target` at `offset`,
 * in one pass where it can, leaving `source` untouched (a client never mutates the caller's payload).
 */
export function maskInto(source: Uint8Array, target: Buffer, offset: number, keyOffset: number): void {
  const length = source.length;
  if (length >= FUSED_MAX) {
    unmaskInto(source, target, offset, key32At(target, keyOffset));
    return;
  }
  const k0 = target[keyOffset];
  const k1 = target[keyOffset + 1];
  const k2 = target[keyOffset + 2];
  const k3 = target[keyOffset + 3];
  let i = 0;
  for (const end = length & ~3; i < end; i += 4) {
    target[offset + i] = source[i] ^ k0;
    target[offset + i + 1] = source[i + 1] ^ k1;
    target[offset + i + 2] = source[i + 2] ^ k2;
    target[offset + i + 3] = source[i + 3] ^ k3;
  }
  if (i < length) target[offset + i] = source[i] ^ k0;
  if (i + 1 < length) target[offset + i + 1] = source[i + 1] ^ k1;
  if (i + 2 < length) target[offset + i + 2] = source[i + 2] ^ k2;
}

/**
 * The key for the payload bytes from `position` on: `key32` (the 4 key bytes read little-endian) rotated
 * by `position % 4` bytes, so that a frame's payload can be unmasked piece by piece.
 */
export function rotateKey(key32: number, position: number): number {
  const shift = (position & 3) * 8;
  return shift === 0 ? key32 : (key32 >>> shift) | (key32 << (32 - shift));
}

/**
 * Copies `source` into `target` at `offset`, unmasking it with `key32` (already rotated to the source's
 * position in its payload, see {@link rotateKey}): one pass over the bytes instead of a copy then an XOR.
 * Masking is the same operation, so {@link maskInto} uses it for all but small frames.
 */
export function unmaskInto(source: Uint8Array, target: Buffer, offset: number, key32: number): void {
  const length = source.length;
  if (native !== null && length >= NATIVE_COPY_MIN) {
    setNativeKey(key32);
    native.mask(toBuffer(source), nativeKey, target, offset, length);
    return;
  }
  if (wasm !== null && length >= WASM_COPY_MIN) {
    wasm.xorCopy(source, target, offset, key32);
    return;
  }
  // memcpy runs at memory speed; the lane loop then XORs in place.
  target.set(source, offset);
  xorInPlace(target, offset, length, key32);
}

/**
 * Unmasks `length` bytes of `chunk` from `start` in place with `key32`, for a parser that cuts many frames out of
 * one chunk: `base` and `buffer` are the chunk's `byteOffset` and `buffer`, read once per chunk (see xorLanes).
 * `view` is the same bytes as a Buffer, for the larger payloads that go to the addon or the module.
 */
export function unmaskInChunk(chunk: Uint8Array, base: number, buffer: ArrayBufferLike, start: number, length: number, key32: number, view: Buffer): void {
  if (length >= (native !== null ? NATIVE_RANGE_MIN : WASM_MIN) && (native !== null || wasm !== null)) {
    unmaskWithKey(view, key32);
  } else if (length >= WORD_LOOP_MIN && LITTLE_ENDIAN) {
    xorLanes(chunk, base, buffer, start, length, key32);
  } else {
    xorBytes(chunk, start, length, key32, 0);
  }
}

/**
 * XORs `data` in place with a key given as the little-endian 32-bit number of its 4 bytes (how the
 * parser keeps a key without holding a view of the chunk it came in).
 */
export function unmaskWithKey(data: Uint8Array, key32: number): void {
  if (native !== null && data.length >= NATIVE_MIN) {
    setNativeKey(key32);
    native.unmask(toBuffer(data), nativeKey);
    return;
  }
  if (wasm !== null && data.length >= WASM_MIN) {
    wasm.xorInPlace(data, 0, data.length, key32);
    return;
  }
  xorInPlace(data, 0, data.length, key32);
}
