import * as fc from 'fast-check';
import { ByteAccumulator } from '../../src/codec/byte-accumulator';

function byteLoop(data: Uint8Array, mask: Uint8Array): Uint8Array {
  return data.map((b, i) => b ^ mask[i & 3]);
}

type MaskModule = typeof import('../../src/codec/mask');

// Loads the masking module afresh, with or without the optional native addon and the WebAssembly module.
function loadMask(noNative: boolean, noWasm: boolean): MaskModule {
  const saved = { WSFLOW_NO_BUFFERUTIL: process.env.WSFLOW_NO_BUFFERUTIL, WSFLOW_NO_WASM: process.env.WSFLOW_NO_WASM };
  const setFlag = (name: keyof typeof saved, value: string | undefined): void => {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  };
  setFlag('WSFLOW_NO_BUFFERUTIL', noNative ? '1' : undefined);
  setFlag('WSFLOW_NO_WASM', noWasm ? '1' : undefined);
  let loaded: MaskModule | undefined;
  jest.isolateModules(() => {
    loaded = require('../../src/codec/mask') as MaskModule;
  });
  setFlag('WSFLOW_NO_BUFFERUTIL', saved.WSFLOW_NO_BUFFERUTIL);
  setFlag('WSFLOW_NO_WASM', saved.WSFLOW_NO_WASM);
  return loaded as MaskModule;
}

describe.each([
  ['pure JS', true, true, ['js']],
  ['WebAssembly SIMD', true, false, ['wasm']],
  ['bufferutil when installed', false, false, ['bufferutil', 'wasm']],
])('masking (%s)', (_name, noNative, noWasm, expected) => {
  const { applyMask: mask, maskInto, maskImplementation, rotateKey, unmaskInChunk, unmaskInto, unmaskWithKey } = loadMask(noNative, noWasm);

  test('picks the expected implementation', () => {
    expect(expected).toContain(maskImplementation);
  });

  test('unmaskWithKey and applyMask agree with the byte loop on large views at any alignment (chunked past 64 KiB)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 200_000 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.nat(7), fc.nat(), (length, key, shift, seed) => {
        const data = Buffer.alloc(length);
        for (let i = 0; i < length; i++) data[i] = (seed + i * 131) & 0xff;
        const expected = Buffer.from(byteLoop(data, key));
        const backing = Buffer.alloc(length + 16, 0xaa);
        const view = new Uint8Array(backing.buffer, backing.byteOffset + shift, length);
        view.set(data);
        unmaskWithKey(view, Buffer.from(key).readInt32LE(0));
        expect(Buffer.from(view).equals(expected)).toBe(true);
        mask(view, key);
        expect(Buffer.from(view).equals(data)).toBe(true);
        expect(backing.subarray(0, shift).every((b) => b === 0xaa)).toBe(true);
        expect(backing.subarray(shift + length).every((b) => b === 0xaa)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  test('unmaskInChunk unmasks a payload inside a chunk that is itself a view, at any size and alignment, and nothing around it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2100 }), fc.nat(9), fc.nat(13), fc.integer(), (length, chunkShift, start, key32) => {
        // The chunk starts `chunkShift` bytes into its ArrayBuffer, as a pooled Buffer or a socket read may.
        const backing = Buffer.alloc(chunkShift + start + length + 16, 0xaa);
        const chunk = backing.subarray(chunkShift);
        const data = Buffer.alloc(length);
        for (let i = 0; i < length; i++) data[i] = (key32 + i * 77) & 0xff;
        chunk.set(data, start);
        const key = Buffer.alloc(4);
        key.writeInt32LE(key32 | 0);
        const view = chunk.subarray(start, start + length);
        unmaskInChunk(chunk, chunk.byteOffset, chunk.buffer, start, length, key32 | 0, view);
        expect(Buffer.from(view).equals(Buffer.from(byteLoop(data, key)))).toBe(true);
        expect(backing.subarray(0, chunkShift + start).every((b) => b === 0xaa)).toBe(true);
        expect(backing.subarray(chunkShift + start + length).every((b) => b === 0xaa)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  test('applyMask equals the byte-by-byte definition at every length and alignment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.nat(7), (data, key, shift) => {
        const backing = new Uint8Array(data.length + 8);
        const view = backing.subarray(shift, shift + data.length);
        view.set(data);
        mask(view, key);
        expect(Buffer.from(view).equals(Buffer.from(byteLoop(data, key)))).toBe(true);
        expect(backing.subarray(0, shift).every((b) => b === 0)).toBe(true);
        expect(backing.subarray(shift + data.length).every((b) => b === 0)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  test('maskInto writes the masked copy and leaves the source alone', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.nat(9), (data, key, offset) => {
        const source = Buffer.from(data);
        const target = Buffer.alloc(offset + 4 + data.length + 3);
        target.set(key, offset);
        maskInto(source, target, offset + 4, offset);
        expect(source.equals(Buffer.from(data))).toBe(true);
        expect(target.subarray(offset + 4, offset + 4 + data.length).equals(Buffer.from(byteLoop(data, key)))).toBe(true);
        expect(target.subarray(offset + 4 + data.length).every((b) => b === 0)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
  test('unmaskInto with rotateKey unmasks a payload piece by piece, wherever it is cut', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (data, key, rawCuts) => {
          const key32 = Buffer.from(key).readInt32LE(0);
          const cuts = [...new Set(rawCuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
          const target = Buffer.alloc(data.length + 2, 0xee);
          let from = 0;
          for (const to of [...cuts, data.length]) {
            unmaskInto(Buffer.from(data.subarray(from, to)), target, from, rotateKey(key32, from));
            from = to;
          }
          expect(target.subarray(0, data.length).equals(Buffer.from(byteLoop(data, key)))).toBe(true);
          expect(target.subarray(data.length).equals(Buffer.from([0xee, 0xee]))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('ByteAccumulator', () => {
  test('joins pieces in order, whatever their sizes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 9000 }), { maxLength: 20 }), (pieces) => {
        const acc = new ByteAccumulator();
        for (const p of pieces) acc.push(Buffer.from(p));
        const expected = Buffer.concat(pieces.map((p) => Buffer.from(p)));
        expect(acc.length).toBe(expected.length);
        expect(acc.take().equals(expected)).toBe(true);
        expect(acc.length).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  test('100,000 one-byte pieces cost about their bytes, not an object each', () => {
    const acc = new ByteAccumulator();
    const one = Buffer.from([7]);
    const internal = acc as unknown as { parts: Buffer[] };
    for (let i = 0; i < 100000; i++) acc.push(one);
    // 16 KiB slabs: 7 parts, not 100,000.
    expect(internal.parts.length).toBeLessThan(10);
    const all = acc.take();
    expect(all.length).toBe(100000);
    expect(all.every((b) => b === 7)).toBe(true);
  });
});

describe('ByteAccumulator views', () => {
  const block = Buffer.alloc(64 * 1024, 1);
  const view = block.subarray(0, 8 * 1024);

  test('by default a large view is kept by reference (a frame payload spans whole chunks)', () => {
    const acc = new ByteAccumulator();
    acc.push(view);
    acc.push(Buffer.alloc(8 * 1024, 2));
    const internal = acc as unknown as { parts: Buffer[] };
    expect(internal.parts[0].buffer).toBe(block.buffer);
  });

  test('with compactViews a view into a much larger block is copied, so it never pins the block', () => {
    const acc = new ByteAccumulator({ compactViews: true });
    acc.push(view);
    acc.push(Buffer.alloc(8 * 1024, 2));
    const internal = acc as unknown as { parts: Buffer[] };
    expect(internal.parts.every((p) => p.buffer !== block.buffer)).toBe(true);
    const all = acc.take();
    expect(all.subarray(0, 8192).every((b) => b === 1)).toBe(true);
    expect(all.subarray(8192).every((b) => b === 2)).toBe(true);
  });
});
