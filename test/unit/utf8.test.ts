import * as fc from 'fast-check';
import { Utf8Validator, isValidUtf8 } from '../../src';

const valid: Array<[string, number[]]> = [
  ['ASCII', [0x48, 0x69]],
  ['2-byte (U+00E9)', [0xc3, 0xa9]],
  ['3-byte (U+20AC)', [0xe2, 0x82, 0xac]],
  ['4-byte emoji (U+1F600)', [0xf0, 0x9f, 0x98, 0x80]],
  ['last code point U+10FFFF', [0xf4, 0x8f, 0xbf, 0xbf]],
  ['U+D7FF before the surrogates', [0xed, 0x9f, 0xbf]],
  ['U+E000 after the surrogates', [0xee, 0x80, 0x80]],
  ['U+FFFD', [0xef, 0xbf, 0xbd]],
  ['empty', []],
];
const invalid: Array<[string, number[]]> = [
  ['lone continuation', [0x80]],
  ['overlong "/" (2 bytes)', [0xc0, 0xaf]],
  ['overlong "/" (3 bytes)', [0xe0, 0x80, 0xaf]],
  ['overlong "/" (4 bytes)', [0xf0, 0x80, 0x80, 0xaf]],
  ['overlong U+07FF in 3 bytes', [0xe0, 0x9f, 0xbf]],
  ['high surrogate U+D800', [0xed, 0xa0, 0x80]],
  ['low surrogate U+DFFF', [0xed, 0xbf, 0xbf]],
  ['surrogate pair', [0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80]],
  ['U+110000', [0xf4, 0x90, 0x80, 0x80]],
  ['F5 lead', [0xf5, 0x80, 0x80, 0x80]],
  ['FE', [0xfe]],
  ['FF', [0xff]],
  ['truncated 3-byte', [0xe2, 0x82]],
  ['truncated 4-byte', [0xf0, 0x9f, 0x98]],
  ['lead then ASCII', [0xc3, 0x41]],
  ['5-byte sequence', [0xf8, 0x88, 0x80, 0x80, 0x80]],
];

function validateSplit(bytes: number[], cuts: number[]): { fragmentsOk: boolean; ended: boolean } {
  const v = new Utf8Validator();
  const buf = Buffer.from(bytes);
  let last = 0;
  for (const cut of [...cuts, buf.length]) {
    if (!v.write(buf.subarray(last, cut))) return { fragmentsOk: false, ended: false };
    last = cut;
  }
  return { fragmentsOk: true, ended: v.end() };
}

describe('UTF-8 validation', () => {
  test.each(valid)('valid: %s, whole and split at every byte', (_name, bytes) => {
    expect(isValidUtf8(Buffer.from(bytes))).toBe(true);
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(validateSplit(bytes, [cut])).toEqual({ fragmentsOk: true, ended: true });
    }
  });

  test.each(invalid)('invalid: %s, whole and split at every byte', (_name, bytes) => {
    expect(isValidUtf8(Buffer.from(bytes))).toBe(false);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = validateSplit(bytes, [cut]);
      expect(r.fragmentsOk && r.ended).toBe(false);
    }
  });

  test('fails fast: an invalid first fragment is rejected before the rest arrives', () => {
    const v = new Utf8Validator();
    expect(v.write(Buffer.from([0x41, 0xed, 0xa0]))).toBe(false);
  });

  test('agrees with Node\'s decoder on arbitrary bytes split anywhere', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.array(fc.nat(), { maxLength: 5 }), (bytes, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const r = validateSplit([...bytes], points);
        expect(r.fragmentsOk && r.ended).toBe(isValidUtf8(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  test('valid strings split anywhere stay valid', () => {
    fc.assert(
      fc.property(fc.fullUnicodeString(), fc.array(fc.nat(), { maxLength: 5 }), (s, cuts) => {
        const bytes = [...Buffer.from(s)];
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        expect(validateSplit(bytes, points)).toEqual({ fragmentsOk: true, ended: true });
      }),
    );
  });
});
