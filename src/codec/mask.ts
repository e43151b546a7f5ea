import * as os from 'os';

// The word loop XORs 32-bit lanes in the platform's byte order; the rotated key is built to match
// a little-endian layout, so big-endian hosts take the byte loop.
const LITTLE_ENDIAN = os.endianness() === 'LE';

// Below this size the Uint32Array view costs more than it saves.
const WORD_LOOP_MIN = 32;

// Above this size a native addon's SIMD loop beats the call overhead into it.
const NATIVE_MIN = 256;

interface NativeMasker {
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
    return typeof addon.unmask === 'function' ? (addon as NativeMasker) : null;
  } catch {
    return null;
  }
}

const native = loadNativeMasker();

/** Which masking implementation is in use: 'bufferutil' (native, when installed) or 'js'. */
export const maskImplementation: 'bufferutil' | 'js' = native === null ? 'js' : 'bufferutil';

/**
 * XORs `data` in place with the 4-byte `mask` (RFC 6455 §5.3), as if `data` started at mask
 * position 0. Masking and unmasking are the same operation.
 */
export function applyMask(data: Uint8Array, mask: Uint8Array): void {
  const length = data.length;
  if (native !== null && length >= NATIVE_MIN) {
    native.unmask(asBuffer(data), asBuffer(mask));
    return;
  }
  if (length < WORD_LOOP_MIN || !LITTLE_ENDIAN) {
    for (let i = 0; i < length; i++) data[i] ^= mask[i & 3];
    return;
  }
  // Bytes up to the first 4-byte aligned address, so the middle can be viewed as a Uint32Array.
  const head = (4 - (data.byteOffset & 3)) & 3;
  let i = 0;
  for (; i < head; i++) data[i] ^= mask[i & 3];
  const word =
    (mask[i & 3] | (mask[(i + 1) & 3] << 8) | (mask[(i + 2) & 3] << 16) | (mask[(i + 3) & 3] << 24)) >>> 0;
  const words = (length - i) >>> 2;
  const lanes = new Uint32Array(data.buffer, data.byteOffset + i, words);
  let w = 0;
  const unrolled = words & ~3;
  for (; w < unrolled; w += 4) {
    lanes[w] ^= word;
    lanes[w + 1] ^= word;
    lanes[w + 2] ^= word;
    lanes[w + 3] ^= word;
  }
  for (; w < words; w++) lanes[w] ^= word;
  i += words << 2;
  for (; i < length; i++) data[i] ^= mask[i & 3];
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
}
