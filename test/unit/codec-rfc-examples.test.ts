// RFC 6455 §5.7 examples, byte for byte, in both directions.
import { Opcode } from '../../src';
import { decodeChunks, encodeFrames, hex } from '../helpers/frames';

// A fixed masking key makes the masked examples reproducible: the RFC's 37 fa 21 3d.
jest.mock('../../src/codec/mask-key', () => ({
  writeMaskKey(target: Buffer, offset: number): void {
    target.set([0x37, 0xfa, 0x21, 0x3d], offset);
  },
}));

const hello = Buffer.from('Hello');
const bytes256 = Buffer.alloc(256, 0xab);
const bytes64k = Buffer.alloc(65536, 0xcd);

const cases: Array<{ name: string; wire: Buffer; frames: Array<{ fin: boolean; opcode: number; payload: Buffer }>; masked: boolean }> = [
  { name: 'unmasked text "Hello"', wire: hex('81 05 48 65 6c 6c 6f'), frames: [{ fin: true, opcode: Opcode.Text, payload: hello }], masked: false },
  { name: 'masked text "Hello"', wire: hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), frames: [{ fin: true, opcode: Opcode.Text, payload: hello }], masked: true },
  {
    name: 'fragmented unmasked text "Hel" + "lo"',
    wire: hex('01 03 48 65 6c 80 02 6c 6f'),
    frames: [
      { fin: false, opcode: Opcode.Text, payload: Buffer.from('Hel') },
      { fin: true, opcode: Opcode.Continuation, payload: Buffer.from('lo') },
    ],
    masked: false,
  },
  { name: 'unmasked Ping "Hello"', wire: hex('89 05 48 65 6c 6c 6f'), frames: [{ fin: true, opcode: Opcode.Ping, payload: hello }], masked: false },
  { name: 'masked Pong "Hello"', wire: hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'), frames: [{ fin: true, opcode: Opcode.Pong, payload: hello }], masked: true },
  { name: '256-byte binary (7E 0100)', wire: Buffer.concat([hex('82 7e 01 00'), bytes256]), frames: [{ fin: true, opcode: Opcode.Binary, payload: bytes256 }], masked: false },
  {
    name: '64 KiB binary (7F 0000000000010000)',
    wire: Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), bytes64k]),
    frames: [{ fin: true, opcode: Opcode.Binary, payload: bytes64k }],
    masked: false,
  },
];

describe('RFC 6455 §5.7 examples', () => {
  test.each(cases)('encodes $name', async ({ wire, frames, masked }) => {
    const encoded = await encodeFrames(frames, { mask: masked });
    expect(encoded.equals(wire)).toBe(true);
  });

  test.each(cases)('decodes $name', async ({ wire, frames, masked }) => {
    const decoded = await decodeChunks([wire], { requireMask: masked });
    expect(decoded).toHaveLength(frames.length);
    decoded.forEach((frame, i) => {
      expect(frame).toMatchObject({ fin: frames[i].fin, opcode: frames[i].opcode, rsv1: false, rsv2: false, rsv3: false });
      expect(frame.payload.equals(frames[i].payload)).toBe(true);
    });
  });

  test.each(cases)('decodes $name one byte at a time', async ({ wire, frames, masked }) => {
    const chunks = [...wire].map((b) => Buffer.from([b]));
    const decoded = await decodeChunks(chunks, { requireMask: masked });
    expect(decoded.map((f) => f.payload.toString('hex'))).toEqual(frames.map((f) => f.payload.toString('hex')));
  });

  test('the encoder never mutates the caller\'s payload when masking', async () => {
    const payload = Buffer.from('Hello');
    await encodeFrames([{ opcode: Opcode.Text, payload }], { mask: true });
    expect(payload.toString()).toBe('Hello');
  });
});
