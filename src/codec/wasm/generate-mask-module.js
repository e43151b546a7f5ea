#!/usr/bin/env node
// Writes mask-module.ts: the bytes of a tiny WebAssembly module that XORs a region of its own memory with a
// 4-byte WebSocket masking key, 64 bytes per loop turn with SIMD (v128.xor). Assembled here by hand from the
// readable listing below, so the project needs no Wasm toolchain (no wabt, no binaryen): run
// `node src/codec/wasm/generate-mask-module.js` after editing it; test/unit/mask-wasm.test.ts checks that the
// checked-in module is this script's output.
//
// The module, in the WebAssembly text format:
//
//   (module
//     (memory (export "memory") PAGES PAGES)          ;; fixed size: it can never grow
//     (func (export "xor") (param $p i32) (param $n i32) (param $k i32)
//       (local $kv v128) (local $end i32)
//       (local.set $kv (i32x4.splat (local.get $k)))   ;; the key in all four 32-bit lanes
//       ;; 64 bytes a turn while they last, then 16, then 4, then single bytes.
//       (local.set $end (i32.add (local.get $p) (i32.and (local.get $n) (i32.const -64))))
//       (block (loop
//         (br_if 1 (i32.ge_u (local.get $p) (local.get $end)))
//         (v128.store offset=0  (local.get $p) (v128.xor (v128.load offset=0  (local.get $p)) (local.get $kv)))
//         (v128.store offset=16 (local.get $p) (v128.xor (v128.load offset=16 (local.get $p)) (local.get $kv)))
//         (v128.store offset=32 (local.get $p) (v128.xor (v128.load offset=32 (local.get $p)) (local.get $kv)))
//         (v128.store offset=48 (local.get $p) (v128.xor (v128.load offset=48 (local.get $p)) (local.get $kv)))
//         (local.set $p (i32.add (local.get $p) (i32.const 64)))
//         (br 0)))
//       (local.set $end (i32.add (local.get $p) (i32.and (local.get $n) (i32.const 48))))
//       (block (loop  ... one v128 a turn, $p += 16 ... ))
//       (local.set $end (i32.add (local.get $p) (i32.and (local.get $n) (i32.const 12))))
//       (block (loop  ... (i32.store (local.get $p) (i32.xor (i32.load (local.get $p)) (local.get $k))), $p += 4 ... ))
//       (local.set $end (i32.add (local.get $p) (i32.and (local.get $n) (i32.const 3))))
//       (block (loop  ... (i32.store8 (local.get $p) (i32.xor (i32.load8_u (local.get $p)) (local.get $k))),
//                         (local.set $k (i32.shr_u (local.get $k) (i32.const 8))), $p += 1 ... ))))
//
// The region starts at key byte 0 and every step before the byte tail is a multiple of 4 bytes, so the
// key never needs rotating inside the module. Loads and stores are unaligned (alignment hint 0).
//
// Why 64 bytes a turn and no more: `npm run bench:mask -- --breakdown` times this loop alone at ~35 GB/s over
// an L1-resident chunk with 4, 8 or 16 v128 a turn alike (it is bound by one 16-byte store a cycle, not by
// the loop's bookkeeping), and the copies into and out of the module's memory take ~70% of a masked copy.
// Alignment hints change nothing in V8's code: the masker's chunks start at offset 0 anyway.
'use strict';
const fs = require('fs');
const path = require('path');

/** 64 KiB pages of the module's memory: the scratch area masking goes through, in chunks of at most its size. */
const PAGES = 1;

// Opcodes and types (WebAssembly core spec 1.0 + fixed-width SIMD).
const I32 = 0x7f;
const V128 = 0x7b;
const FUNC = 0x60;
const EMPTY_BLOCK = 0x40;
const OP = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  br_if: 0x0d,
  end: 0x0b,
  local_get: 0x20,
  local_set: 0x21,
  i32_load: 0x28,
  i32_load8_u: 0x2d,
  i32_store: 0x36,
  i32_store8: 0x3a,
  i32_const: 0x41,
  i32_ge_u: 0x4f,
  i32_add: 0x6a,
  i32_and: 0x71,
  i32_xor: 0x73,
  i32_shr_u: 0x76,
  simd: 0xfd,
};
const SIMD = { v128_load: 0x00, v128_store: 0x0b, i32x4_splat: 0x11, v128_xor: 0x51 };

function uleb(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n) {
  const out = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const name = (s) => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
const vec = (items) => [...uleb(items.length), ...items.flat()];
const section = (id, body) => [id, ...uleb(body.length), ...body];

// Locals: 0 $p, 1 $n, 2 $k (parameters), 3 $kv, 4 $end.
const P = 0;
const N = 1;
const K = 2;
const KV = 3;
const END = 4;

const get = (i) => [OP.local_get, i];
const set = (i) => [OP.local_set, i];
const i32const = (v) => [OP.i32_const, ...sleb(v)];
const memarg = (offset) => [0, ...uleb(offset)]; // alignment hint 2^0: the data may sit anywhere
const simd = (op, ...rest) => [OP.simd, ...uleb(op), ...rest];

/** $end = $p + ($n & mask) */
const setEnd = (mask) => [...get(P), ...get(N), ...i32const(mask), OP.i32_and, OP.i32_add, ...set(END)];

/** while ($p < $end) { body; $p += step } */
function loopTo(step, body) {
  return [
    OP.block, EMPTY_BLOCK,
    OP.loop, EMPTY_BLOCK,
    ...get(P), ...get(END), OP.i32_ge_u, OP.br_if, 1,
    ...body,
    ...get(P), ...i32const(step), OP.i32_add, ...set(P),
    OP.br, 0,
    OP.end,
    OP.end,
  ];
}

/** mem[$p + offset .. +16) ^= $kv */
const xorV128 = (offset) => [
  ...get(P),
  ...get(P), ...simd(SIMD.v128_load, ...memarg(offset)),
  ...get(KV), ...simd(SIMD.v128_xor),
  ...simd(SIMD.v128_store, ...memarg(offset)),
];

const body = [
  ...get(K), ...simd(SIMD.i32x4_splat), ...set(KV),
  ...setEnd(-64),
  ...loopTo(64, [...xorV128(0), ...xorV128(16), ...xorV128(32), ...xorV128(48)]),
  ...setEnd(48),
  ...loopTo(16, xorV128(0)),
  ...setEnd(12),
  ...loopTo(4, [...get(P), ...get(P), OP.i32_load, ...memarg(0), ...get(K), OP.i32_xor, OP.i32_store, ...memarg(0)]),
  ...setEnd(3),
  ...loopTo(1, [
    ...get(P), ...get(P), OP.i32_load8_u, ...memarg(0), ...get(K), OP.i32_xor, OP.i32_store8, ...memarg(0),
    ...get(K), ...i32const(8), OP.i32_shr_u, ...set(K),
  ]),
  OP.end,
];
const locals = vec([[1, V128], [1, I32]]);
const func = [...locals, ...body];

/** The module's bytes. */
function generateMaskModule() {
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vec([[FUNC, ...vec([[I32], [I32], [I32]]), ...vec([])]])), // type 0: (i32, i32, i32) -> ()
    ...section(3, vec([uleb(0)])), // function 0 has type 0
    ...section(5, vec([[0x01, ...uleb(PAGES), ...uleb(PAGES)]])), // memory 0: min = max = PAGES
    ...section(7, vec([[...name('memory'), 0x02, 0], [...name('xor'), 0x00, 0]])),
    ...section(10, vec([[...uleb(func.length), ...func]])),
  ]);
}

/** The TypeScript source of mask-module.ts for these bytes. */
function renderModuleSource(bytes) {
  const base64 = Buffer.from(bytes).toString('base64');
  return `// Generated by generate-mask-module.js (beside this file, with the module's listing): do not edit.
/** The masking module's bytes, base64: exports \`memory\` (${PAGES} × 64 KiB, fixed) and \`xor(pointer, length, key32)\`. */
export const MASK_MODULE_BASE64 =
  '${base64}';
/** Size of the module's memory, in bytes. */
export const MASK_MODULE_MEMORY_BYTES = ${PAGES * 65536};
`;
}

module.exports = { generateMaskModule, renderModuleSource };

if (require.main === module) {
  const file = path.join(__dirname, 'mask-module.ts');
  fs.writeFileSync(file, renderModuleSource(generateMaskModule()));
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
