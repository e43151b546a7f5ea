// reconnect()'s policy: the backoff with jitter, the default retry rule, and bad options.
import { CloseError, HandshakeError, ProxyError, reconnect } from '../../src';
import { backoffDelay, defaultShouldRetry, RECONNECT_DEFAULTS } from '../../src/client/reconnect';

const policy = { initialDelay: 1000, maxDelay: 10_000, factor: 1.618 };

describe('backoffDelay', () => {
  test('the first wait is drawn in [0, initialDelay]', () => {
    expect(backoffDelay(1, policy, () => 0)).toBe(0);
    expect(backoffDelay(1, policy, () => 0.999999)).toBe(1000);
    expect(backoffDelay(1, policy, () => 0.5)).toBe(500);
  });

  test('then in [cap/2, cap], the cap growing by factor up to maxDelay', () => {
    let cap = 1000;
    for (let n = 2; n <= 12; n++) {
      cap = Math.min(10_000, 1000 * 1.618 ** (n - 1));
      expect(backoffDelay(n, policy, () => 0)).toBe(Math.round(cap / 2));
      expect(backoffDelay(n, policy, () => 0.999999)).toBe(Math.round(cap));
    }
    expect(cap).toBe(10_000);
    expect(backoffDelay(50, policy, () => 0.999999)).toBe(10_000);
  });

  test('jitter is drawn for every attempt', () => {
    const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(3, policy)));
    expect(seen.size).toBeGreaterThan(10);
  });

  test("python websockets' factor by default", () => {
    expect(RECONNECT_DEFAULTS.factor).toBe(1.618);
  });
});

describe('defaultShouldRetry', () => {
  const sys = (code: string): Error => Object.assign(new Error(code), { code });
  test.each([
    [sys('ECONNREFUSED'), true],
    [sys('ECONNRESET'), true],
    [sys('ENOTFOUND'), true],
    [sys('EAI_AGAIN'), true],
    [sys('ENOENT'), true],
    [new HandshakeError(0, 'timed out'), true],
    [new ProxyError('http://p', 0, 'unreachable'), true],
    [new HandshakeError(500, ''), true],
    [new HandshakeError(502, ''), true],
    [new HandshakeError(503, ''), true],
    [new HandshakeError(504, ''), true],
    [new HandshakeError(101, 'bad accept'), false],
    [new HandshakeError(401, ''), false],
    [new HandshakeError(403, ''), false],
    [new HandshakeError(404, ''), false],
    [new HandshakeError(429, ''), false],
    [new ProxyError('http://p', 407, 'auth'), false],
    [sys('DEPTH_ZERO_SELF_SIGNED_CERT'), false],
    [sys('ERR_TLS_CERT_ALTNAME_INVALID'), false],
    [new TypeError('bad option'), false],
    [new DOMException('aborted', 'AbortError'), false],
    [new CloseError(1006, '', false), false],
  ])('%p → %p', (err, expected) => {
    expect(defaultShouldRetry(err)).toBe(expected);
  });

  test.each([
    [1001, true],
    [1006, true],
    [1011, true],
    [1012, true],
    [1013, true],
    [1014, true],
    [1000, false],
    [1008, false],
    [1002, false],
    [1005, false],
    [4000, false],
  ])('close %i → %p', (code, expected) => {
    expect(defaultShouldRetry({ code, reason: '', wasClean: true })).toBe(expected);
  });
});

describe('bad options are refused when reconnect() is called', () => {
  test.each([
    [{ initialDelay: -1 }],
    [{ initialDelay: Number.NaN }],
    [{ maxDelay: 2 ** 31 }],
    [{ initialDelay: 500, maxDelay: 100 }],
    [{ factor: 0.5 }],
    [{ factor: Infinity }],
    [{ maxAttempts: 0 }],
    [{ maxAttempts: 2.5 }],
    [{ resetAfter: -5 }],
  ])('%p: RangeError', (opts) => {
    expect(() => reconnect('ws://127.0.0.1:1/', opts)).toThrow(RangeError);
  });

  test('shouldRetry and onRetry must be functions', () => {
    expect(() => reconnect('ws://127.0.0.1:1/', { shouldRetry: true as unknown as () => boolean })).toThrow(TypeError);
    expect(() => reconnect('ws://127.0.0.1:1/', { onRetry: 'log' as unknown as () => void })).toThrow(TypeError);
  });
});
