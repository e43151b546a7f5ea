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
 */
import { loadWasmMasker } from '../src/codec/wasm/mask-wasm';
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

function main(): void {
  const args = new Map(process.argv.slice(2).map((a) => a.split('=', 2) as [string, string]));
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
