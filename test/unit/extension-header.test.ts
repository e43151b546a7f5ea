import fc from 'fast-check';
import { formatExtension, isToken, parseExtensionHeader, type ExtensionOffer } from '../../src/extensions/extension-header';

/** Plain-data view of a parse result, for toEqual. */
function plain(list: ExtensionOffer[] | null): Array<[string, Array<[string, string | null]>]> | null {
  return list === null ? null : list.map((e) => [e.name, e.params.map((p) => [p.name, p.value])]);
}

describe('parseExtensionHeader', () => {
  test.each<[string, ReturnType<typeof plain>]>([
    ['', []],
    ['   ', []],
    [',', []],
    [' , ,\t,', []],
    ['permessage-deflate', [['permessage-deflate', []]]],
    ['permessage-deflate; client_max_window_bits', [['permessage-deflate', [['client_max_window_bits', null]]]]],
    [
      'permessage-deflate;client_max_window_bits=10;server_no_context_takeover',
      [['permessage-deflate', [['client_max_window_bits', '10'], ['server_no_context_takeover', null]]]],
    ],
    // OWS everywhere, including around "=" (BWS), tabs
    [
      ' \tpermessage-deflate \t; \tclient_max_window_bits \t= \t10 \t, \tfoo ',
      [['permessage-deflate', [['client_max_window_bits', '10']]], ['foo', []]],
    ],
    // quoted values, unescaped
    ['a; b="10"', [['a', [['b', '10']]]]],
    ['a; b="1\\0"', [['a', [['b', '10']]]]],
    ['a; b="x"; c=y', [['a', [['b', 'x'], ['c', 'y']]]]],
    // several offers, several joined header lines, empty elements
    [
      'permessage-deflate; server_max_window_bits=10, permessage-deflate, , x-webkit-deflate-frame',
      [['permessage-deflate', [['server_max_window_bits', '10']]], ['permessage-deflate', []], ['x-webkit-deflate-frame', []]],
    ],
    // duplicates are kept (the extension decides)
    ['a; b; b=1', [['a', [['b', null], ['b', '1']]]]],
    // names are case-folded, values are not
    ['PerMessage-Deflate; Client_Max_Window_Bits=Ab', [['permessage-deflate', [['client_max_window_bits', 'Ab']]]]],
    // prototype-pollution names are plain data
    ['__proto__; constructor=1; hasOwnProperty', [['__proto__', [['constructor', '1'], ['hasownproperty', null]]]]],
    ['constructor, __proto__; __proto__=x', [['constructor', []], ['__proto__', [['__proto__', 'x']]]]],
  ])('%j', (header, expected) => {
    expect(plain(parseExtensionHeader(header))).toEqual(expected);
  });

  test.each([
    ';',
    'a;',
    'a; ',
    'a;;b',
    'a;=1',
    'a; b=',
    'a; b= ,c',
    'a; b="unterminated',
    'a; b="a b"', // quoted value must be a token once unescaped
    'a; b=""',
    'a; b="x\\',
    'a b',
    'a; b c',
    'a; b=c d',
    'a; b=c=d',
    'a; b="c"d',
    '"a"',
    'a;"b"',
    'a=1',
    'é',
    'a; b=é',
    'a\u0000',
    'a\r\n',
    'a; b="\u0001"',
    'a,;b',
    'a; b=1;',
  ])('malformed %j -> null', (header) => {
    expect(parseExtensionHeader(header)).toBeNull();
  });

  test('does not touch Object.prototype whatever the names', () => {
    const list = parseExtensionHeader('__proto__; polluted=1, constructor; prototype; __proto__="x"');
    expect(list).not.toBeNull();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
  });

  test('linear time on pathological input', () => {
    const inputs = [
      'a; b="' + '\\"'.repeat(50_000),
      'a' + ' '.repeat(100_000) + 'b',
      'permessage-deflate; '.repeat(10_000),
      'a;b=c, '.repeat(20_000) + '"',
      ','.repeat(100_000),
      'x'.repeat(100_000) + ';' + 'y'.repeat(100_000) + '=',
    ];
    for (const h of inputs) {
      // CPU time, so a loaded machine does not count against us; quadratic work here would take seconds.
      const t0 = process.cpuUsage();
      parseExtensionHeader(h);
      const used = process.cpuUsage(t0);
      expect((used.user + used.system) / 1000).toBeLessThan(200);
    }
  });

  test('fuzz: never throws, result is null or well-formed', () => {
    const alphabet = fc.constantFrom(...'ab;=," \t\\_-\u0000é\u007fpermessage-deflate'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.fullUnicodeString(), fc.stringOf(alphabet)), (s) => {
        const r = parseExtensionHeader(s);
        if (r === null) return;
        for (const e of r) {
          expect(isToken(e.name)).toBe(true);
          for (const p of e.params) {
            expect(isToken(p.name)).toBe(true);
            if (p.value !== null) expect(isToken(p.value)).toBe(true);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('formatExtension', () => {
  test('formats tokens bare and other values quoted', () => {
    expect(formatExtension('permessage-deflate')).toBe('permessage-deflate');
    expect(
      formatExtension('permessage-deflate', [
        { name: 'server_no_context_takeover', value: null },
        { name: 'client_max_window_bits', value: '10' },
      ]),
    ).toBe('permessage-deflate; server_no_context_takeover; client_max_window_bits=10');
    expect(formatExtension('x', [{ name: 'y', value: 'a "b"\\' }])).toBe('x; y="a \\"b\\"\\\\"');
  });

  test('rejects non-token names', () => {
    expect(() => formatExtension('a b')).toThrow(TypeError);
    expect(() => formatExtension('a', [{ name: '', value: null }])).toThrow(TypeError);
    expect(() => formatExtension('a', [{ name: 'b', value: '\u0001' }])).toThrow(TypeError);
  });

  test('property: parse(format(x)) == x for token-valued extensions', () => {
    const tokenChar = fc.constantFrom(..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz".split(''));
    const token = fc.stringOf(tokenChar, { minLength: 1, maxLength: 12 });
    const ext = fc.record({
      name: token,
      params: fc.array(fc.record({ name: token, value: fc.option(token, { nil: null }) }), { maxLength: 5 }),
    });
    fc.assert(
      fc.property(fc.array(ext, { minLength: 1, maxLength: 4 }), (list) => {
        const header = list.map((e) => formatExtension(e.name, e.params)).join(', ');
        expect(plain(parseExtensionHeader(header))).toEqual(list.map((e) => [e.name, e.params.map((p) => [p.name, p.value])]));
      }),
    );
  });
});
