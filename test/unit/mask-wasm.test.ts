import * as fc from 'fast-check';
import * as fs from 'fs';
import * as path from 'path';
import { loadWasmMasker, WASM_CHUNK_BYTES } from '../../src/codec/wasm/mask-wasm';

// The generator is a plain Node script (no build step, not shipped): loaded as it is run.
const generator = require('../../src/codec/wasm/generate-mask-module.js') as {
  generateMaskModule(): Uint8Array;
  renderModuleSource(bytes: Uint8Array): string;
};

function reference(data: Uint8Array, key32: number): Buffer {
  return Buffer.from(data.map((b, i) => b ^ ((key32 >>> ((i & 3) * 8)) & 0xff)));
}

function pattern(length: number, seed: number): Buffer {
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = (seed + i * 29 + (i >>> 8)) & 0xff;
  return data;
}

describe('the WebAssembly masking module', () => {
  test('the checked-in module is exactly what the generator writes', () => {
    const checkedIn = fs.readFileSync(path.join(__dirname, '../../src/codec/wasm/mask-module.ts'), 'utf8');
    const bytes = generator.generateMaskModule();
    expect(checkedIn).toBe(generator.renderModuleSource(bytes));
    // The project's `lib` has no WebAssembly typings: the one function needed, typed here.
    const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;
    expect(wasm.validate(bytes)).toBe(true);
  });

  const masker = loadWasmMasker();

  test('loads on Node 20 (WebAssembly SIMD is available)', () => {
    expect(masker).not.toBeNull();
  });

  test('xorInPlace equals the byte-by-byte definition at every small size, view offset and key', () => {
    const m = masker!;
    for (let length = 0; length <= 300; length++) {
      for (const shift of [0, 1, 2, 3, 5]) {
        const key32 = (0x9e3779b9 * (length + 1) + shift) | 0;
        const data = pattern(length, length + shift);
        const backing = Buffer.alloc(length + 12, 0x5a);
        const view = new Uint8Array(backing.buffer, backing.byteOffset + shift, length);
        view.set(data);
        m.xorInPlace(view, 0, length, key32);
        expect([length, shift, Buffer.from(view).equals(reference(data, key32))]).toEqual([length, shift, true]);
        expect(backing.subarray(0, shift).every((b) => b === 0x5a)).toBe(true);
        expect(backing.subarray(shift + length).every((b) => b === 0x5a)).toBe(true);
      }
    }
  });

  test('xorInPlace of a sub-range and xorCopy agree with the reference up to several chunks', () => {
    const m = masker!;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200_000 }), fc.nat(9), fc.integer(), fc.nat(), (length, start, key32, seed) => {
        const data = pattern(length, seed);
        const expected = reference(data, key32);
        // In place, inside a larger buffer: the bytes around the range are not touched.
        const inPlace = Buffer.alloc(start + length + 7, 0x33);
        data.copy(inPlace, start);
        m.xorInPlace(inPlace, start, length, key32);
        expect(inPlace.subarray(start, start + length).equals(expected)).toBe(true);
        expect(inPlace.subarray(0, start).every((b) => b === 0x33)).toBe(true);
        expect(inPlace.subarray(start + length).every((b) => b === 0x33)).toBe(true);
        // Copying: the source is left alone.
        const target = Buffer.alloc(start + length + 7, 0x44);
        const source = Buffer.from(data);
        m.xorCopy(source, target, start, key32);
        expect(source.equals(data)).toBe(true);
        expect(target.subarray(start, start + length).equals(expected)).toBe(true);
        expect(target.subarray(0, start).every((b) => b === 0x44)).toBe(true);
        expect(target.subarray(start + length).every((b) => b === 0x44)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  test('lengths around chunk boundaries, from views at odd offsets into larger buffers, in place and copying', () => {
    const m = masker!;
    const C = WASM_CHUNK_BYTES;
    expect(C % 4).toBe(0);
    for (const length of [C - 1, C, C + 1, 2 * C - 3, 2 * C, 3 * C + 5]) {
      for (const shift of [0, 1, 3]) {
        for (const start of [0, 2]) {
          const key32 = (0x7f4a7c15 * (length + shift + start)) | 0;
          const data = pattern(length, length ^ shift);
          const expected = reference(data, key32);
          // In place: `data` is a view at an odd offset, masked from `start` on.
          const backing = Buffer.alloc(shift + start + length + 5, 0x61);
          const view = new Uint8Array(backing.buffer, backing.byteOffset + shift, start + length);
          view.set(data, start);
          m.xorInPlace(view, start, length, key32);
          expect([length, shift, start, Buffer.from(view.subarray(start)).equals(expected)]).toEqual([length, shift, start, true]);
          expect(backing.subarray(0, shift + start).every((b) => b === 0x61)).toBe(true);
          expect(backing.subarray(shift + start + length).every((b) => b === 0x61)).toBe(true);
          // Copying: the source too is a view at an odd offset, and is left alone.
          const sourceBacking = Buffer.alloc(shift + length + 3, 0x62);
          const source = new Uint8Array(sourceBacking.buffer, sourceBacking.byteOffset + shift, length);
          source.set(data);
          const target = Buffer.alloc(start + length + 5, 0x63);
          m.xorCopy(source, target, start, key32);
          expect(Buffer.from(source).equals(data)).toBe(true);
          expect([length, shift, start, target.subarray(start, start + length).equals(expected)]).toEqual([length, shift, start, true]);
          expect(target.subarray(0, start).every((b) => b === 0x63)).toBe(true);
          expect(target.subarray(start + length).every((b) => b === 0x63)).toBe(true);
        }
      }
    }
  });

  test('a huge payload goes through in chunks: the module memory never grows', () => {
    const m = masker!;
    const before = m.memory.buffer.byteLength;
    const huge = pattern(5 * 1024 * 1024 + 3, 7);
    const copy = Buffer.alloc(huge.length);
    m.xorCopy(huge, copy, 0, 0x01020304);
    m.xorInPlace(copy, 0, copy.length, 0x01020304);
    expect(copy.equals(huge)).toBe(true);
    expect(m.memory.buffer.byteLength).toBe(before);
    expect(before).toBe(64 * 1024);
    // The module declares its maximum equal to its minimum: growth is impossible, not just avoided.
    expect(() => m.memory.grow(1)).toThrow(RangeError);
  });

  test('WSFLOW_NO_WASM=1 turns the module off', () => {
    const saved = process.env.WSFLOW_NO_WASM;
    process.env.WSFLOW_NO_WASM = '1';
    try {
      expect(loadWasmMasker()).toBeNull();
    } finally {
      if (saved === undefined) delete process.env.WSFLOW_NO_WASM;
      else process.env.WSFLOW_NO_WASM = saved;
    }
  });
});
