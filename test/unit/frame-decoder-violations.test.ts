import { FrameParser, FrameParserOptions, WebSocketError, Opcode, FrameDecoder } from '../../src';
import { decodeChunks, hex } from '../helpers/frames';

type Case = [name: string, wire: Buffer, options: FrameParserOptions, code: number];

async function closeCodeOf(wire: Buffer, options = {}): Promise<number> {
  try {
    await decodeChunks([wire], options);
  } catch (err) {
    expect(err).toBeInstanceOf(WebSocketError);
    return (err as WebSocketError).closeCode;
  }
  throw new Error('decoder accepted the input');
}

describe('FrameDecoder violations', () => {
  test.each<Case>([
    ['64-bit length with the top bit set', hex('82 7f 80 00 00 00 00 00 00 01'), {}, 1002],
    ['64-bit length over 2^53', hex('82 7f 00 40 00 00 00 00 00 00'), { maxPayload: Number.MAX_SAFE_INTEGER }, 1009],
    ['length over maxPayload (7-bit)', hex('82 0b') , { maxPayload: 10 }, 1009],
    ['length over maxPayload (16-bit)', hex('82 7e 01 00'), { maxPayload: 255 }, 1009],
    ['length over maxPayload (64-bit)', hex('82 7f 00 00 00 01 00 00 00 00'), {}, 1009],
    ['RSV1 without an extension', hex('c1 00'), {}, 1002],
    ['RSV2', hex('a1 00'), { allowRsv1: true }, 1002],
    ['RSV3', hex('91 00'), { allowRsv1: true }, 1002],
    ['RSV1 on a control frame even with an extension', hex('c9 00'), { allowRsv1: true }, 1002],
    ['RSV1 on a continuation frame', hex('40 00'), { allowRsv1: true }, 1002],
    ['control frame with 126-byte payload', Buffer.concat([hex('89 7e 00 7e'), Buffer.alloc(126)]), {}, 1002],
    ['fragmented control frame', hex('09 00'), {}, 1002],
    ['unmasked frame in the server role', hex('81 00'), { requireMask: true }, 1002],
    ['masked frame in the client role', hex('81 80 00 00 00 00'), { requireMask: false }, 1002],
    ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map(
      (op): Case => [`reserved opcode 0x${op.toString(16)}`, Buffer.from([0x80 | op, 0]), {}, 1002],
    ),
  ])('%s → %s', async (_name, wire, options, code) => {
    expect(await closeCodeOf(wire, options)).toBe(code);
  });

  test('maxPayload is decided from the header, before any payload arrives', () => {
    const frames: unknown[] = [];
    const parser = new FrameParser({ maxPayload: 1024 }, (f) => {
      frames.push(f);
    });
    // Only the 10-byte header of a 1 GiB frame: the parser must fail now, not wait for bytes.
    expect(() => parser.push(hex('82 7f 00 00 00 00 40 00 00 00'))).toThrow(
      expect.objectContaining({ closeCode: 1009 }),
    );
  });

  test('a failed parser stays failed and ignores further input', () => {
    const parser = new FrameParser({}, () => undefined);
    expect(() => parser.push(hex('83 00'))).toThrow(WebSocketError);
    expect(parser.push(hex('81 00'))).toBe(true);
  });

  test('input that ends mid-frame fails with 1006', async () => {
    await expect(decodeChunks([hex('81 05 48 65')])).rejects.toMatchObject({ closeCode: 1006 });
  });

  test('the parser pauses when the handler asks, and resumes where it stopped', () => {
    const seen: string[] = [];
    const parser = new FrameParser({}, (f) => {
      seen.push(f.payload.toString());
      return false;
    });
    const wire = hex('81 01 61 81 01 62 81 01 63');
    expect(parser.push(wire)).toBe(false);
    expect(seen).toEqual(['a']);
    expect(parser.resume()).toBe(false);
    expect(parser.resume()).toBe(false);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(parser.resume()).toBe(true);
    expect(parser.isAtFrameBoundary).toBe(true);
  });

  test('a frame inside one chunk is a view of that chunk, not a copy', () => {
    const wire = hex('82 03 01 02 03');
    let payload: Buffer | undefined;
    new FrameParser({}, (f) => {
      payload = f.payload;
    }).push(wire);
    expect(payload!.buffer).toBe(wire.buffer);
    expect(payload!.byteOffset).toBe(wire.byteOffset + 2);
  });

  test('the masking key is copied, so frames do not pin or depend on the chunk holding the key', () => {
    const headerChunk = Buffer.from(hex('82 83 01 02 03 04'));
    let payload: Buffer | undefined;
    const parser = new FrameParser({ requireMask: true }, (f) => {
      payload = f.payload;
    });
    parser.push(headerChunk);
    // Were the key a view of the chunk, scribbling over the chunk would corrupt the unmasking.
    headerChunk.fill(0xff);
    parser.push(Buffer.from([0, 0, 0]));
    expect(payload!.equals(Buffer.from([1, 2, 3]))).toBe(true);
  });

  test('Opcode values are those of RFC 6455', () => {
    expect([Opcode.Continuation, Opcode.Text, Opcode.Binary, Opcode.Close, Opcode.Ping, Opcode.Pong]).toEqual([
      0, 1, 2, 8, 9, 10,
    ]);
  });

  test('a protocol violation destroys the FrameDecoder stream with the error', (done) => {
    const decoder = new FrameDecoder();
    decoder.on('error', (err) => {
      expect((err as WebSocketError).closeCode).toBe(1002);
      expect(decoder.destroyed).toBe(true);
      done();
    });
    decoder.resume();
    decoder.write(hex('83 00'));
  });
});

describe('FrameDecoder with an onFrame sink', () => {
  test('returning false holds the write callback until resumeParsing(), then parsing goes on', async () => {
    const seen: string[] = [];
    let hold = true;
    const decoder = new FrameDecoder({
      onFrame: (f) => {
        seen.push(f.payload.toString());
        return !hold;
      },
    });
    let written = false;
    decoder.write(hex('81 01 61 81 01 62'), () => {
      written = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['a']);
    expect(decoder.isParsingPaused).toBe(true);
    expect(written).toBe(false);
    hold = false;
    decoder.resumeParsing();
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['a', 'b']);
    expect(written).toBe(true);
    expect(decoder.readableLength).toBe(0);
  });
});
