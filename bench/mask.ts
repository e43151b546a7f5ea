/**
 * Masking micro-benchmark: where each implementation wins, to choose the thresholds in src/codec/mask.ts.
 *
 *   npm run build && node dist/bench/mask.js [--sizes=64,256,1024] [--reps=5]
 *
 * For every payload size, in place (a server unmasking a frame inside a socket chunk) and copying (a client
 * masking the caller's payload into its output, or a frame's pieces gathered into one payload buffer):
 * the JS lane loop (mask.ts with WSFLOW_NO_BUFFERUTIL and WSFLOW_NO_WASM, so it runs at every size), the
 * WebAssembly SIMD module (called directly, at every size), bufferutil (called directly), and memcpy
 * (`TypedArray#set`, the ceiling of the copying case). GB/s of payload, best of --reps rounds of ≥ 20 ms.
 *
 * --breakdown: instead, where the module's copying path spends its time, per payload size and per chunk size
 * (--chunks=4096,16384,65536): the XOR pass alone over the module's memory, the copy in alone, the copy out
 * alone, and the three together, each as the masker does them chunk by chunk.
 */
import { MASK_MODULE_BASE64 } from '../src/codec/wasm/mask-module';
import { loadWasmMasker, WASM_CHUNK_BYTES } from '../src/codec/wasm/mask-wasm';
import { repoRoot } from './lib/machine';

type MaskModule = typeof import('../src/codec/mask');
interface Bufferutil {
  mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  unmask(buffer: Buffer, mask: Buffer): void;
}

function loadPureJs(): MaskModule {
  process.env.WSFLOW_NO_BUFFERUTIL = '1';
  process.env.WSFLOW_NO_WASM = '1';
  const id = require.resolve('../src/codec/mask');
  delete require.cache[id];
  const js = require(id) as MaskModule;
  delete require.cache[id];
  delete process.env.WSFLOW_NO_BUFFERUTIL;
  delete process.env.WSFLOW_NO_WASM;
  if (js.maskImplementation !== 'js') throw new Error('could not load the pure JS masking');
  return js;
}

function loadBufferutil(): Bufferutil | null {
  try {
    const addon = require(require.resolve('bufferutil', { paths: [repoRoot()] })) as Bufferutil;
    const fallback = require(require.resolve('bufferutil/fallback', { paths: [repoRoot()] })) as Bufferutil;
    return addon === fallback ? null : addon;
  } catch {
    return null;
  }
}

let sink = 0;

/** GB/s (10^9 bytes) of `fn`, each call handling `bytes`: the best of `reps` rounds of at least 20 ms. */
function rate(fn: () => void, bytes: number, reps: number): number {
  let best = 0;
  for (let r = 0; r < reps; r++) {
    for (let iterations = 1; ; iterations *= 2) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < iterations; i++) fn();
      const ns = Number(process.hrtime.bigint() - start);
      if (ns >= 20e6) {
        best = Math.max(best, (iterations * bytes) / ns);
        break;
      }
    }
  }
  return best;
}

interface RawModule {
  memory: { buffer: ArrayBuffer };
  xor(pointer: number, length: number, key32: number): void;
}

/** A fresh instance of the masking module, for timing its export alone. */
function rawModule(): RawModule {
  const api = (globalThis as unknown as { WebAssembly: { Instance: new (m: object) => { exports: unknown }; Module: new (b: Uint8Array) => object } }).WebAssembly;
  return new api.Instance(new api.Module(Buffer.from(MASK_MODULE_BASE64, 'base64'))).exports as RawModule;
}

function breakdown(sizes: number[], chunks: number[], reps: number): void {
  const { memory, xor } = rawModule();
  const scratch = new Uint8Array(memory.buffer);
  const key32 = 0x78563412;
  const us = (gbps: number, bytes: number): string => (bytes / gbps / 1000).toFixed(2).padStart(10);
  console.log(`copying through the module, µs per payload (best of ${reps}); the masker uses ${WASM_CHUNK_BYTES}-byte chunks`);
  console.log(`${'size'.padStart(8)} ${'chunk'.padStart(6)} |${['xor', 'copy in', 'copy out', 'all three'].map((h) => h.padStart(10)).join('')}`);
  for (const size of sizes) {
    const source = Buffer.alloc(size, 5);
    const target = Buffer.allocUnsafe(size + 16);
    for (const chunk of chunks) {
      if (chunk > scratch.length || (chunk > size && chunk !== chunks[0])) continue;
      const c = Math.min(chunk, size);
      const piece = (at: number): Uint8Array => new Uint8Array(source.buffer, source.byteOffset + at, Math.min(c, size - at));
      const xorOnly = rate(() => { for (let at = 0; at < size; at += c) xor(0, Math.min(c, size - at), key32); }, size, reps);
      const copyIn = rate(() => { for (let at = 0; at < size; at += c) scratch.set(piece(at), 0); }, size, reps);
      const copyOut = rate(() => { for (let at = 0; at < size; at += c) target.set(new Uint8Array(memory.buffer, 0, Math.min(c, size - at)), 6 + at); }, size, reps);
      const all = rate(() => {
        for (let at = 0; at < size; at += c) {
          const n = Math.min(c, size - at);
          scratch.set(piece(at), 0);
          xor(0, n, key32);
          target.set(new Uint8Array(memory.buffer, 0, n), 6 + at);
        }
      }, size, reps);
      sink ^= target[6];
      console.log(`${String(size).padStart(8)} ${String(c).padStart(6)} |${[xorOnly, copyIn, copyOut, all].map((g) => us(g, size)).join('')}`);
    }
  }
}

function main(): void {
  const args = new Map(process.argv.slice(2).map((a) => a.split('=', 2) as [string, string]));
  if (args.has('--breakdown')) {
    const sizes = (args.get('--sizes') ?? '1024,16384,65536,1048576').split(',').map(Number);
    const chunks = (args.get('--chunks') ?? '4096,8192,16384,32768,65536').split(',').map(Number);
    breakdown(sizes, chunks, Number(args.get('--reps') ?? 5));
    return;
  }
  const sizes = (args.get('--sizes') ?? '32,64,128,256,512,1024,2048,4096,16384,65536,1048576').split(',').map(Number);
  const reps = Number(args.get('--reps') ?? 5);
  const js = loadPureJs();
  const wasm = loadWasmMasker();
  const native = loadBufferutil();
  if (!wasm) throw new Error('WebAssembly SIMD is unavailable here');
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const key32 = key.readInt32LE(0);
  const cell = (v: number): string => (v === 0 ? '—' : v.toFixed(2)).padStart(8);
  console.log(`masking, GB/s (best of ${reps}); bufferutil ${native ? 'native' : 'not installed'}`);
  console.log(`${'size'.padStart(8)} | in place: ${['js', 'wasm', 'addon'].map((h) => h.padStart(8)).join('')} | copying: ${['js', 'wasm', 'addon', 'memcpy'].map((h) => h.padStart(8)).join('')}`);
  for (const size of sizes) {
    // An odd offset into a larger buffer, as a frame's payload sits in a socket chunk.
    const chunk = Buffer.alloc(size + 16, 7);
    const data = chunk.subarray(3, 3 + size);
    const source = Buffer.alloc(size, 5);
    const target = Buffer.allocUnsafe(size + 16);
    const inJs = rate(() => js.unmaskWithKey(data, key32), size, reps);
    const inWasm = rate(() => wasm.xorInPlace(data, 0, size, key32), size, reps);
    const inNative = native ? rate(() => native.unmask(data, key), size, reps) : 0;
    const cpJs = rate(() => js.unmaskInto(source, target, 6, key32), size, reps);
    const cpWasm = rate(() => wasm.xorCopy(source, target, 6, key32), size, reps);
    const cpNative = native ? rate(() => native.mask(source, key, target, 6, size), size, reps) : 0;
    const memcpy = rate(() => target.set(source, 6), size, reps);
    sink ^= data[0] ^ target[6];
    console.log(`${String(size).padStart(8)} | ${' '.repeat(10)}${cell(inJs)}${cell(inWasm)}${cell(inNative)} | ${' '.repeat(9)}${cell(cpJs)}${cell(cpWasm)}${cell(cpNative)}${cell(memcpy)}`);
  }
  if (sink === 256) console.log('');
}

main();
