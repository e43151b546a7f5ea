// Buffer views of caller data, on paths taken once per frame.

const EMPTY = Buffer.alloc(0);

/**
 * True when `data` is a Buffer. Tested by a method every Buffer inherits and a plain Uint8Array lacks,
 * not by `Buffer.isBuffer`: that is an `instanceof`, measured at about 10 ns a call here, as much as
 * the rest of framing an unmasked frame; a monomorphic property load is nearly free.
 */
export function isBuffer(data: Uint8Array): data is Buffer {
  return (data as Partial<Buffer>).readUInt8 !== undefined;
}

/** A view of `data` as a Buffer, without copying. */
export function toBuffer(data: Uint8Array): Buffer {
  if (isBuffer(data)) return data;
  return data.length === 0 ? EMPTY : Buffer.from(data.buffer, data.byteOffset, data.length);
}

type BufferView = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Buffer;

// Node's own Buffer class (internal `FastBuffer`, what `Buffer[Symbol.species]` returns; ws relies on it too).
// Constructed directly it makes a view in about 35 ns here; `subarray()` costs about 150 ns, as it reads the
// source's `buffer` and `byteOffset` through slow accessors and looks up the species first.
const species = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species];
const FastView: BufferView | null =
  typeof species === 'function' && (species as { prototype: unknown }).prototype === Buffer.prototype ? (species as BufferView) : null;

/**
 * A Buffer viewing `length` bytes of `buffer` from `byteOffset`, without copying: for a parser that read its
 * chunk's `buffer` and `byteOffset` once and cuts many payloads out of it.
 */
export function viewOf(buffer: ArrayBufferLike, byteOffset: number, length: number): Buffer {
  return FastView !== null ? new FastView(buffer, byteOffset, length) : Buffer.from(buffer, byteOffset, length);
}
