import { isBuffer, toBuffer, viewOf } from '../../src/codec/buffers';

describe('toBuffer / isBuffer', () => {
  test('a Buffer (or a Buffer view) is returned as it is', () => {
    const pooled = Buffer.from('pooled');
    const slow = Buffer.allocUnsafeSlow(8);
    const view = Buffer.alloc(16).subarray(4, 9);
    for (const b of [pooled, slow, view, Buffer.alloc(0)]) {
      expect(isBuffer(b)).toBe(true);
      expect(toBuffer(b)).toBe(b);
    }
  });

  test('a plain Uint8Array becomes a Buffer over the same memory, not a copy', () => {
    const backing = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
    const u8 = backing.subarray(2, 6);
    expect(isBuffer(u8)).toBe(false);
    const b = toBuffer(u8);
    expect(Buffer.isBuffer(b)).toBe(true);
    expect([...b]).toEqual([2, 3, 4, 5]);
    b[0] = 42;
    expect(backing[2]).toBe(42);
  });

  test('an empty Uint8Array and a Uint8Array subclass are turned into Buffers too', () => {
    class Bytes extends Uint8Array {}
    expect(Buffer.isBuffer(toBuffer(new Uint8Array(0)))).toBe(true);
    expect(toBuffer(new Uint8Array(0)).length).toBe(0);
    const sub = new Bytes([9, 8, 7]);
    expect(isBuffer(sub)).toBe(false);
    const b = toBuffer(sub);
    expect(Buffer.isBuffer(b)).toBe(true);
    expect([...b]).toEqual([9, 8, 7]);
  });

  test('isBuffer agrees with Buffer.isBuffer on typed arrays of every kind', () => {
    const samples: Uint8Array[] = [
      Buffer.from([1]),
      new Uint8Array(3),
      new Uint8Array(new SharedArrayBuffer(4)),
      Buffer.from(new SharedArrayBuffer(4)),
      new Uint8ClampedArray(2) as unknown as Uint8Array,
    ];
    for (const s of samples) expect(isBuffer(s)).toBe(Buffer.isBuffer(s));
  });
});

describe('viewOf', () => {
  test('is a real Buffer over the given bytes of the ArrayBuffer, not a copy', () => {
    const chunk = Buffer.alloc(64).subarray(8);
    chunk.write('hello, world', 10);
    const view = viewOf(chunk.buffer, chunk.byteOffset + 10, 12);
    expect(Buffer.isBuffer(view)).toBe(true);
    expect(view).toBeInstanceOf(Buffer);
    expect(view.toString()).toBe('hello, world');
    expect(view.byteOffset).toBe(chunk.byteOffset + 10);
    expect(view.buffer).toBe(chunk.buffer);
    view[0] = 0x48;
    expect(chunk.toString('latin1', 10, 15)).toBe('Hello');
    expect(viewOf(chunk.buffer, chunk.byteOffset, 0).length).toBe(0);
    // Buffer methods work on it, as on any Buffer.
    expect(view.readUInt8(1)).toBe(0x65);
    expect(view.subarray(7).toString()).toBe('world');
  });
});
