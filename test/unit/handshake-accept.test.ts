import { createHash } from 'crypto';
import fc from 'fast-check';
import { computeAcceptKey, generateKey, isValidKey, WEBSOCKET_GUID } from '../../src/handshake/accept';
import { acceptKeyOfValidKey } from '../../src/handshake/accept-sha1';

function referenceAccept(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID, 'latin1').digest('base64');
}

describe('computeAcceptKey', () => {
  it('matches the example of RFC 6455 §1.3', () => {
    // RFC 6455 §1.3 and §4.2.2: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (checked with `openssl sha1 -binary | base64`).
    expect(computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('uses the RFC GUID', () => {
    expect(WEBSOCKET_GUID).toBe('258EAFA5-E914-47DA-95CA-C5AB0DC85B11');
  });

  it('agrees with node:crypto on any valid key (the specialised SHA-1)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const key = Buffer.from(bytes).toString('base64');
        expect(isValidKey(key)).toBe(true);
        expect(acceptKeyOfValidKey(key)).toBe(referenceAccept(key));
        expect(computeAcceptKey(key)).toBe(referenceAccept(key));
      }),
      { numRuns: 2000 },
    );
    // The extremes of the alphabet, and keys whose unused low bits are set (accepted, as by ws and gorilla).
    for (const key of ['AAAAAAAAAAAAAAAAAAAAAA==', '//////////////////////==', '++++++++++++++++++++++==', 'zzzzzzzzzzzzzzzzzzzzzz==']) {
      expect(acceptKeyOfValidKey(key)).toBe(referenceAccept(key));
    }
  });

  it('answers keys it would not accept through node:crypto, unchanged', () => {
    for (const key of ['', 'short', ' dGhlIHNhbXBsZSBub25jZQ==', 'dGhlIHNhbXBsZSBub25jZQ', 'd\u00e9hlIHNhbXBsZSBub25jZQ==']) {
      expect(computeAcceptKey(key)).toBe(referenceAccept(key));
    }
  });

  it('is 28 base64 characters (a SHA-1 digest)', () => {
    const accept = computeAcceptKey(generateKey());
    expect(accept).toHaveLength(28);
    expect(Buffer.from(accept, 'base64')).toHaveLength(20);
  });
});

describe('generateKey', () => {
  it('produces valid, distinct keys of 16 random bytes', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const key = generateKey();
      expect(isValidKey(key)).toBe(true);
      expect(Buffer.from(key, 'base64')).toHaveLength(16);
      keys.add(key);
    }
    expect(keys.size).toBe(200);
  });
});

describe('isValidKey', () => {
  const valid: string[] = [
    'dGhlIHNhbXBsZSBub25jZQ==',
    'AAAAAAAAAAAAAAAAAAAAAA==',
    '/////////////////////w==',
    '++++++++++++++++++++++==', // non-canonical low bits: accepted, like ws and gorilla
    'x3JJHMbDL1EzLkh9GBhXDw==',
  ];
  const invalid: [string, unknown][] = [
    ['empty', ''],
    ['not a string', 42],
    ['undefined', undefined],
    ['too short', 'dGhlIHNhbXBsZSBub25jZQ='],
    ['too long', 'dGhlIHNhbXBsZSBub25jZQ==='],
    ['no padding', 'dGhlIHNhbXBsZSBub25jZQAA'],
    ['single padding (17 bytes)', 'dGhlIHNhbXBsZSBub25jZQA='],
    ['padding inside', 'dGhlIHNhbXBsZSBub25j=Q=='],
    ['url-safe alphabet', 'dGhlIHNhbXBsZSBub25j-_=='],
    ['space inside', 'dGhlIHNhbXBsZSBub25 ZQ=='],
    ['leading space', ' dGhlIHNhbXBsZSBub25jZQ='],
    ['CRLF', 'dGhlIHNhbXBsZSBub25jZ\r\n='],
    ['NUL', 'dGhlIHNhbXBsZSBub25jZ\u0000=='],
    ['non-ASCII', 'dGhlIHNhbXBsZSBub25jZé=='],
    ['two keys joined by node', 'dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ=='],
    ['base64 of 18 bytes', 'AAAAAAAAAAAAAAAAAAAAAAAA'],
  ];

  it.each(valid)('accepts %s', (key) => {
    expect(isValidKey(key)).toBe(true);
  });

  it.each(invalid)('rejects %s', (_name, key) => {
    expect(isValidKey(key)).toBe(false);
  });
});
