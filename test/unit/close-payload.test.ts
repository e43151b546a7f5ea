import { buildClosePayload, parseClosePayload, isValidCloseCode, WebSocketError } from '../../src';

describe('Close payloads', () => {
  test('valid codes are exactly 1000–1003, 1007–1014, 3000–4999', () => {
    const valid: number[] = [];
    for (let code = 0; code < 70000; code++) if (isValidCloseCode(code)) valid.push(code);
    expect(valid.length).toBe(4 + 8 + 2000);
    for (const c of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) expect(isValidCloseCode(c)).toBe(false);
  });

  test.each([
    ['empty → 1005', [], { code: 1005, reason: '' }],
    ['code only', [0x03, 0xe8], { code: 1000, reason: '' }],
    ['code and reason', [0x0f, 0xa0, 0x62, 0x79, 0x65], { code: 4000, reason: 'bye' }],
  ])('parses %s', (_n, bytes, expected) => {
    expect(parseClosePayload(Buffer.from(bytes as number[]))).toEqual(expected);
  });

  test.each([
    ['one byte', [0x03], 1002],
    ['code 999', [0x03, 0xe7], 1002],
    ['code 1005', [0x03, 0xed], 1002],
    ['code 5000', [0x13, 0x88], 1002],
    ['invalid UTF-8 reason', [0x03, 0xe8, 0xff], 1007],
  ])('rejects %s with %s', (_n, bytes, code) => {
    try {
      parseClosePayload(Buffer.from(bytes as number[]));
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(WebSocketError);
      expect((err as WebSocketError).closeCode).toBe(code);
    }
  });

  test('builds code + reason, cutting the reason to 123 bytes on a character boundary', () => {
    expect(buildClosePayload(1000, 'ok')).toEqual(Buffer.from([0x03, 0xe8, 0x6f, 0x6b]));
    expect(buildClosePayload()).toEqual(Buffer.alloc(0));
    const long = buildClosePayload(1000, 'é'.repeat(100)); // 200 bytes of 2-byte characters
    expect(long.length).toBe(2 + 122);
    expect(parseClosePayload(long).reason).toBe('é'.repeat(61));
    const emoji = buildClosePayload(1001, 'a' + '😀'.repeat(40));
    expect(emoji.length).toBeLessThanOrEqual(125);
    expect(() => parseClosePayload(emoji)).not.toThrow();
  });

  test('refuses codes that may not be sent', () => {
    for (const c of [1005, 1006, 1015, 999, 5000]) expect(() => buildClosePayload(c)).toThrow(RangeError);
    expect(() => buildClosePayload(undefined, 'reason')).toThrow(TypeError);
  });
});
