import * as fc from 'fast-check';
import {
  asciiLower,
  assertSafeHeader,
  createHeaderMap,
  equalsIgnoreAsciiCase,
  findOutgoingHeader,
  headerHasToken,
  headerOccurrences,
  headerValue,
  isSafeHeaderValue,
  isToken,
  listContainsToken,
  parseList,
  readSingleHeader,
  serializeHeaders,
} from '../../src/handshake/headers';

describe('parseList', () => {
  const table: [string, string | string[] | undefined, string[]][] = [
    ['absent', undefined, []],
    ['empty', '', []],
    ['one token', 'Upgrade', ['Upgrade']],
    ['two tokens', 'keep-alive, Upgrade', ['keep-alive', 'Upgrade']],
    ['no space', 'keep-alive,Upgrade', ['keep-alive', 'Upgrade']],
    ['tabs and spaces', ' \tkeep-alive \t,\t Upgrade\t ', ['keep-alive', 'Upgrade']],
    ['empty elements', ',, a ,,, b,', ['a', 'b']],
    ['only commas and spaces', ' , ,, ', []],
    ['quoted comma', 'x; p="a,b", y', ['x; p="a,b"', 'y']],
    ['escaped quote', 'x; p="a\\",b", y', ['x; p="a\\",b"', 'y']],
    ['unterminated quote', 'x; p="a, b', ['x; p="a, b']],
    ['array (per-occurrence header)', ['a, b', 'c'], ['a', 'b', 'c']],
    ['inner spaces kept', 'a b, c', ['a b', 'c']],
  ];
  it.each(table)('%s', (_name, input, expected) => {
    expect(parseList(input)).toEqual(expected);
  });

  it('is linear on hostile input (no ReDoS)', () => {
    const evil = `${' '.repeat(200_000)},${'\t'.repeat(200_000)}x${' ,'.repeat(100_000)}"${'\\"'.repeat(50_000)}`;
    const start = process.hrtime.bigint();
    parseList(evil);
    listContainsToken(evil, 'upgrade');
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    expect(ms).toBeLessThan(500);
  });
});

describe('listContainsToken', () => {
  const table: [string | string[] | undefined, string, boolean][] = [
    ['Upgrade', 'upgrade', true],
    ['upgrade', 'upgrade', true],
    ['UPGRADE', 'upgrade', true],
    ['keep-alive, Upgrade', 'upgrade', true],
    ['Upgrade, keep-alive', 'upgrade', true],
    ['keep-alive,upgrade', 'upgrade', true],
    ['keep-alive', 'upgrade', false],
    ['upgraded', 'upgrade', false],
    ['up grade', 'upgrade', false],
    ['"upgrade"', 'upgrade', false],
    [undefined, 'upgrade', false],
    ['', 'upgrade', false],
    [['keep-alive', 'Upgrade'], 'upgrade', true],
    ['WebSocket', 'websocket', true],
    ['websocket/13', 'websocket', false],
    ['h2c, websocket', 'websocket', true],
    ['\u212Aeep-alive', 'keep-alive', false], // KELVIN SIGN must not fold to "k"
  ];
  it.each(table)('%j contains %s → %s', (value, token, expected) => {
    expect(listContainsToken(value, token)).toBe(expected);
  });
});

describe('ASCII case folding', () => {
  it('lowers A–Z only', () => {
    expect(asciiLower('Sec-WebSocket-Key')).toBe('sec-websocket-key');
    expect(asciiLower('ÀÉ\u212A')).toBe('ÀÉ\u212A');
    expect(equalsIgnoreAsciiCase('Example.COM', 'example.com')).toBe(true);
    expect(equalsIgnoreAsciiCase('\u212A', 'k')).toBe(false);
    expect(equalsIgnoreAsciiCase('a', 'ab')).toBe(false);
  });
});

describe('isToken', () => {
  it.each(['chat', 'v1.chat', 'x-y_z', "!#$%&'*+-.^_`|~09AZaz"])('accepts %j', (s) => expect(isToken(s)).toBe(true));
  it.each(['', 'a b', 'a,b', 'a;b', '"a"', 'a/b', 'a\r\nb', 'é', 'a\u0000', '(a)', 'a:b'])('rejects %j', (s) =>
    expect(isToken(s)).toBe(false),
  );
});

describe('header value safety', () => {
  it.each(['plain', 'with space and\ttab', 'obs-text é', ''])('accepts %j', (v) => expect(isSafeHeaderValue(v)).toBe(true));
  it.each(['a\r\nInjected: 1', 'a\rb', 'a\nb', 'a\u0000b', 'a\u007fb', 'a\u0001b', 'snowman ☃'])('rejects %j', (v) =>
    expect(isSafeHeaderValue(v)).toBe(false),
  );

  it('assertSafeHeader throws without echoing the value', () => {
    expect(() => assertSafeHeader('X-A', 'v\r\nInjected: 1')).toThrow(TypeError);
    try {
      assertSafeHeader('X-A', 'v\r\nInjected: 1');
    } catch (e) {
      expect((e as Error).message).not.toContain('Injected');
    }
    expect(() => assertSafeHeader('X-A\r\nInjected', 'v')).toThrow(TypeError);
    expect(() => assertSafeHeader('Bad Name', 'v')).toThrow(TypeError);
    expect(() => assertSafeHeader('X-A', 'fine')).not.toThrow();
  });
});

describe('serializeHeaders', () => {
  it('writes arrays as repeated lines and stringifies numbers', () => {
    expect(serializeHeaders({ 'Set-Cookie': ['a=1', 'b=2'], 'X-N': 42, 'X-U': undefined })).toBe(
      'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-N: 42\r\n',
    );
  });

  it('skips names case-insensitively', () => {
    expect(serializeHeaders({ 'Sec-WebSocket-Protocol': 'chat', A: 'b' }, new Set(['sec-websocket-protocol']))).toBe('A: b\r\n');
  });

  it.each([
    [{ 'X-A': 'v\r\nInjected: 1' }],
    [{ 'X-A': 'v\nInjected: 1' }],
    [{ 'X-A': 'v\rInjected: 1' }],
    [{ 'X-A': 'v\u0000' }],
    [{ 'X-A\r\nInjected': 'v' }],
    [{ 'X-A': ['ok', 'v\r\nInjected: 1'] }],
    [{ '': 'v' }],
  ])('rejects %j before producing anything', (headers) => {
    expect(() => serializeHeaders(headers)).toThrow(TypeError);
  });

  it('ignores inherited properties', () => {
    const proto = { Inherited: 'x' };
    const headers = Object.create(proto) as Record<string, string>;
    headers['Own'] = 'y';
    expect(serializeHeaders(headers)).toBe('Own: y\r\n');
  });
});

describe('findOutgoingHeader', () => {
  it('finds any case and reports the caller spelling', () => {
    expect(findOutgoingHeader({ 'sec-WEBSOCKET-extensions': 'x' }, 'Sec-WebSocket-Extensions')).toEqual({
      name: 'sec-WEBSOCKET-extensions',
      value: 'x',
    });
    expect(findOutgoingHeader({ a: 'b' }, 'c')).toBeUndefined();
    expect(findOutgoingHeader(undefined, 'c')).toBeUndefined();
  });
});

describe('reading incoming headers', () => {
  it('headerValue copes with absent, string and array values', () => {
    expect(headerValue({}, 'x')).toBeUndefined();
    expect(headerValue({ x: 'a' }, 'X')).toBe('a');
    expect(headerValue({ 'set-cookie': ['a', 'b'] }, 'Set-Cookie')).toBe('a, b');
    expect(headerValue({ 'set-cookie': [] }, 'set-cookie')).toBeUndefined();
  });

  it('readSingleHeader detects duplicates through rawHeaders', () => {
    const msg = {
      headers: { 'sec-websocket-key': 'k1, k2', host: 'a' },
      rawHeaders: ['Host', 'a', 'Sec-WebSocket-Key', 'k1', 'sec-websocket-key', 'k2', 'HOST', 'b'],
    };
    expect(readSingleHeader(msg, 'Sec-WebSocket-Key')).toEqual({ kind: 'duplicated', count: 2 });
    expect(readSingleHeader(msg, 'host')).toEqual({ kind: 'duplicated', count: 2 });
    expect(readSingleHeader(msg, 'origin')).toEqual({ kind: 'absent' });
    expect(readSingleHeader({ headers: {}, rawHeaders: ['X', ' \tv \t'] }, 'x')).toEqual({ kind: 'present', value: 'v' });
    expect(headerOccurrences(msg, 'sec-websocket-key')).toEqual(['k1', 'k2']);
  });

  it('falls back to headers when rawHeaders is missing', () => {
    expect(readSingleHeader({ headers: { x: 'v' } }, 'X')).toEqual({ kind: 'present', value: 'v' });
    expect(readSingleHeader({ headers: { x: ['a', 'b'] } }, 'x')).toEqual({ kind: 'duplicated', count: 2 });
  });

  it('is not fooled by prototype names', () => {
    expect(readSingleHeader({ headers: {}, rawHeaders: [] }, '__proto__')).toEqual({ kind: 'absent' });
    expect(headerValue({}, 'constructor')).toBeUndefined();
    expect(headerValue({}, 'toString')).toBeUndefined();
    const map = createHeaderMap();
    expect(map['__proto__']).toBeUndefined();
    expect(Object.getPrototypeOf(map)).toBeNull();
  });
});

describe('the allocation-free scans agree with their reference definitions', () => {
  const listText = fc.stringOf(fc.constantFrom('a', 'U', 'p', 'g', 'r', 'd', 'e', ',', ' ', '\t', '"', '\\', 'K', '\u212a'), { maxLength: 24 });
  test('listContainsToken(v, t) === parseList(v).some(equalsIgnoreAsciiCase(·, t))', () => {
    fc.assert(
      fc.property(listText, fc.constantFrom('upgrade', 'a', 'ke', 'UP', 'pe'), (value, token) => {
        const reference = parseList(value).some((e) => asciiLower(e) === asciiLower(token));
        expect(listContainsToken(value, token)).toBe(reference);
      }),
      { numRuns: 3000 },
    );
  });

  test('equalsIgnoreAsciiCase folds A-Z only', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), (a, b) => {
        expect(equalsIgnoreAsciiCase(a, b)).toBe(asciiLower(a) === asciiLower(b));
      }),
      { numRuns: 3000 },
    );
    expect(equalsIgnoreAsciiCase('\u212aey', 'key')).toBe(false);
    expect(equalsIgnoreAsciiCase('Sec-WebSocket-Key', 'sec-websocket-key')).toBe(true);
  });

  test('headerHasToken reads every raw occurrence, and headers when there are no raw ones', () => {
    const msg = { headers: {}, rawHeaders: ['Connection', 'keep-alive', 'UPGRADE', 'h2c', 'connection', 'Upgrade'] };
    expect(headerHasToken(msg, 'connection', 'upgrade')).toBe(true);
    expect(headerHasToken(msg, 'upgrade', 'websocket')).toBe(false);
    expect(headerHasToken({ headers: { connection: 'Upgrade' } }, 'connection', 'upgrade')).toBe(true);
    expect(headerHasToken({ headers: {} }, 'connection', 'upgrade')).toBe(false);
  });

  test('readSingleHeader counts duplicates from rawHeaders and trims the value', () => {
    const msg = { headers: {}, rawHeaders: ['Host', ' a.example ', 'Origin', 'x', 'origin', 'y'] };
    expect(readSingleHeader(msg, 'host')).toEqual({ kind: 'present', value: 'a.example' });
    expect(readSingleHeader(msg, 'origin')).toEqual({ kind: 'duplicated', count: 2 });
    expect(readSingleHeader(msg, 'sec-websocket-key')).toEqual({ kind: 'absent' });
  });
});
