import * as path from 'path';
import * as zlib from 'zlib';
import fc from 'fast-check';
import { Utf8Validator } from '../../src/codec/utf8';
import { HandshakeError, WebSocketError } from '../../src/errors';
import { parseExtensionHeader } from '../../src/extensions/extension-header';
import {
  acceptClientResponse,
  buildClientOffer,
  negotiateServer,
  PerMessageDeflate,
  validatePerMessageDeflateOptions,
  type DeflateParams,
  type PerMessageDeflateOptions,
} from '../../src/extensions/permessage-deflate';
import { ZlibLimiter, zlibLimiter } from '../../src/extensions/zlib-limiter';

// ---------------------------------------------------------------------------------------------------------------
// helpers

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const TAIL = hex('0000ffff');

function compress(p: PerMessageDeflate, data: Buffer | string, fin = true): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    p.compress(Buffer.from(data), fin, (err, out) => (err ? reject(err) : resolve(out as Buffer)));
  });
}

function decompress(p: PerMessageDeflate, data: Buffer, fin = true, maxSize = 64 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    p.decompress(data, fin, maxSize, (err, out) => (err ? reject(err) : resolve(out as Buffer)));
  });
}

function params(p: Partial<DeflateParams> = {}): DeflateParams {
  return {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    ...p,
  };
}

/** Negotiates with our own functions and builds both ends. */
function pair(clientOpts: PerMessageDeflateOptions = {}, serverOpts: PerMessageDeflateOptions = {}) {
  const neg = negotiateServer(buildClientOffer(clientOpts), serverOpts);
  if (neg === null) throw new Error('negotiation failed');
  const clientParams = acceptClientResponse(neg.response, clientOpts);
  expect(clientParams).toEqual(neg.params);
  return {
    server: new PerMessageDeflate(neg.params, serverOpts, true),
    client: new PerMessageDeflate(clientParams, clientOpts, false),
    params: neg.params,
  };
}

const instances: PerMessageDeflate[] = [];
function track<T extends PerMessageDeflate>(p: T): T {
  instances.push(p);
  return p;
}
afterEach(() => {
  for (const p of instances.splice(0)) p.close();
});

/** Deterministic, moderately compressible text (JSON-like, with repeats at many distances). */
function text(n: number, seed = 1): Buffer {
  let s = '';
  let x = seed;
  const words = ['"id"', '"name"', '"value"', 'true', 'false', 'null', '{', '}', '[', ']', ':', ',', '"user"', '"items"'];
  while (s.length < n) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += x % 5 === 0 ? String(x % 1000) : (words[x % words.length] as string);
  }
  return Buffer.from(s.slice(0, n));
}

function randomBytes(n: number, seed = 7): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >>> 16;
  }
  return b;
}

/**
 * A tiny, strict raw-DEFLATE decoder (RFC 1951) used as an independent reference: it refuses any distance
 * larger than `windowSize`, which zlib's own inflate does not check reliably. Decodes until the input is
 * exhausted (permessage-deflate streams end with a sync-flush empty stored block, byte-aligned).
 */
function strictInflate(input: Buffer, windowSize: number, history: number[] = []): { out: Buffer; history: number[] } {
  let pos = 0;
  const total = input.length * 8;
  const bit = (): number => {
    if (pos >= total) throw new Error('unexpected end of input');
    const b = ((input[pos >>> 3] as number) >>> (pos & 7)) & 1;
    pos++;
    return b;
  };
  const bits = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) v |= bit() << i;
    return v;
  };
  type Huff = { count: number[]; symbol: number[] };
  const build = (lengths: number[]): Huff => {
    const count = new Array<number>(16).fill(0);
    for (const l of lengths) count[l]!++;
    count[0] = 0;
    const offs = new Array<number>(16).fill(0);
    for (let l = 1; l < 16; l++) offs[l] = offs[l - 1]! + count[l - 1]!;
    const symbol: number[] = [];
    lengths.forEach((l, s) => {
      if (l !== 0) symbol[offs[l]!++] = s;
    });
    return { count, symbol };
  };
  const decode = (h: Huff): number => {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= bit();
      const c = h.count[len]!;
      if (code - c < first) return h.symbol[index + (code - first)]!;
      index += c;
      first = (first + c) << 1;
      code <<= 1;
    }
    throw new Error('bad code');
  };
  const LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
  const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
  const DBASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
  const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
  const out = history;
  const start = history.length;
  const fixedLit = build([...Array(144).fill(8), ...Array(112).fill(9), ...Array(24).fill(7), ...Array(8).fill(8)]);
  const fixedDist = build(Array(30).fill(5));
  while (pos < total) {
    const final = bit();
    const type = bits(2);
    if (type === 0) {
      pos = (pos + 7) & ~7;
      const len = bits(16);
      const nlen = bits(16);
      if ((len ^ 0xffff) !== nlen) throw new Error('bad stored length');
      for (let i = 0; i < len; i++) out.push(bits(8));
    } else if (type === 1 || type === 2) {
      let lit = fixedLit;
      let dist = fixedDist;
      if (type === 2) {
        const hlit = bits(5) + 257;
        const hdist = bits(5) + 1;
        const hclen = bits(4) + 4;
        const order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
        const cl = new Array<number>(19).fill(0);
        for (let i = 0; i < hclen; i++) cl[order[i]!] = bits(3);
        const clh = build(cl);
        const lengths: number[] = [];
        while (lengths.length < hlit + hdist) {
          const sym = decode(clh);
          if (sym < 16) lengths.push(sym);
          else if (sym === 16) {
            const prev = lengths[lengths.length - 1];
            if (prev === undefined) throw new Error('repeat with no previous length');
            for (let r = 3 + bits(2); r > 0; r--) lengths.push(prev);
          } else for (let r = sym === 17 ? 3 + bits(3) : 11 + bits(7); r > 0; r--) lengths.push(0);
        }
        lit = build(lengths.slice(0, hlit));
        dist = build(lengths.slice(hlit));
      }
      for (;;) {
        const sym = decode(lit);
        if (sym < 256) out.push(sym);
        else if (sym === 256) break;
        else {
          const li = sym - 257;
          const len = LBASE[li]! + bits(LEXT[li]!);
          const di = decode(dist);
          const d = DBASE[di]! + bits(DEXT[di]!);
          if (d > windowSize) throw new Error(`distance ${d} exceeds the ${windowSize}-byte window`);
          if (d > out.length) throw new Error('distance before start of stream');
          for (let i = 0; i < len; i++) out.push(out[out.length - d]!);
        }
      }
    } else throw new Error('bad block type');
    if (final) break;
  }
  return { out: Buffer.from(out.slice(start)), history: out };
}

interface WsPerMessageDeflate {
  offer(): Record<string, unknown>;
  accept(configurations: Array<Record<string, unknown[]>>): Record<string, unknown>;
  compress(data: Buffer, fin: boolean, cb: (err: Error | null, result?: Buffer) => void): void;
  decompress(data: Buffer, fin: boolean, cb: (err: Error | null, result?: Buffer) => void): void;
  cleanup(): void;
}
type WsPerMessageDeflateCtor = new (options: Record<string, unknown>) => WsPerMessageDeflate;
// ws does not export its internals through package.json "exports": load them by path.
const wsDir = path.dirname(require.resolve('ws'));
const WsPMD = require(path.join(wsDir, 'lib', 'permessage-deflate.js')) as WsPerMessageDeflateCtor;
const wsExtension = require(path.join(wsDir, 'lib', 'extension.js')) as {
  parse(header: string): Record<string, Array<Record<string, unknown[]>>>;
  format(extensions: Record<string, unknown>): string;
};

function wsCall(fn: (cb: (err: Error | null, result?: Buffer) => void) => void): Promise<Buffer> {
  return new Promise((resolve, reject) => fn((err, out) => (err ? reject(err) : resolve(out as Buffer))));
}

// ---------------------------------------------------------------------------------------------------------------
// options

describe('options validation', () => {
  test.each<[PerMessageDeflateOptions, ErrorConstructor]>([
    [{ serverMaxWindowBits: 7 }, RangeError],
    [{ serverMaxWindowBits: 16 }, RangeError],
    [{ clientMaxWindowBits: 9.5 }, RangeError],
    [{ clientMaxWindowBits: '10' as unknown as number }, TypeError],
    [{ level: 10 }, RangeError],
    [{ level: -2 }, RangeError],
    [{ memLevel: 0 }, RangeError],
    [{ memLevel: 10 }, RangeError],
    [{ threshold: -1 }, RangeError],
    [{ threshold: NaN }, RangeError],
    [{ maxConcurrency: 0 }, RangeError],
    [{ maxConcurrency: 1.5 }, RangeError],
    [{ serverNoContextTakeover: 1 as unknown as boolean }, TypeError],
  ])('%j', (opts, type) => {
    expect(() => validatePerMessageDeflateOptions(opts)).toThrow(type);
    expect(() => buildClientOffer(opts)).toThrow(type);
    expect(() => negotiateServer('permessage-deflate', opts)).toThrow(type);
    expect(() => new PerMessageDeflate(params(), opts, true)).toThrow(type);
  });

  test('valid options are accepted', () => {
    expect(() =>
      validatePerMessageDeflateOptions({
        serverNoContextTakeover: true,
        clientNoContextTakeover: false,
        serverMaxWindowBits: 8,
        clientMaxWindowBits: 15,
        level: -1,
        memLevel: 9,
        threshold: 0,
        maxConcurrency: Infinity,
      }),
    ).not.toThrow();
  });

  test('bad DeflateParams are refused', () => {
    expect(() => new PerMessageDeflate(params({ serverMaxWindowBits: 16 }), {}, true)).toThrow(RangeError);
    expect(() => new PerMessageDeflate(params({ clientMaxWindowBits: 7 }), {}, false)).toThrow(RangeError);
  });

  test('threshold', () => {
    expect(track(new PerMessageDeflate(params(), {}, true)).threshold).toBe(1024);
    expect(track(new PerMessageDeflate(params(), { threshold: 0 }, true)).threshold).toBe(0);
    expect(track(new PerMessageDeflate(params(), { threshold: 10 }, true)).threshold).toBe(10);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// negotiation: server

describe('negotiateServer', () => {
  const P = (p: Partial<DeflateParams>) => params(p);
  test.each<[string | undefined, PerMessageDeflateOptions, { params: DeflateParams; response: string } | null]>([
    [undefined, {}, null],
    ['', {}, null],
    ['x-webkit-deflate-frame', {}, null],
    ['permessage-deflate', {}, { params: P({}), response: 'permessage-deflate' }],
    ['permessage-deflate; client_max_window_bits', {}, { params: P({}), response: 'permessage-deflate' }],
    // extension names are case-insensitive
    ['PerMessage-Deflate', {}, { params: P({}), response: 'permessage-deflate' }],
    // client_max_window_bits without value: the server may set it
    [
      'permessage-deflate; client_max_window_bits',
      { clientMaxWindowBits: 10 },
      { params: P({ clientMaxWindowBits: 10 }), response: 'permessage-deflate; client_max_window_bits=10' },
    ],
    // ... but not when the client did not offer it: decline
    ['permessage-deflate', { clientMaxWindowBits: 10 }, null],
    ['permessage-deflate', { clientMaxWindowBits: 15 }, { params: P({}), response: 'permessage-deflate' }],
    // client value is a promise: honoured (and narrowed by our option)
    [
      'permessage-deflate; client_max_window_bits=12',
      {},
      { params: P({ clientMaxWindowBits: 12 }), response: 'permessage-deflate; client_max_window_bits=12' },
    ],
    [
      'permessage-deflate; client_max_window_bits=12',
      { clientMaxWindowBits: 9 },
      { params: P({ clientMaxWindowBits: 9 }), response: 'permessage-deflate; client_max_window_bits=9' },
    ],
    [
      'permessage-deflate; client_max_window_bits=9',
      { clientMaxWindowBits: 12 },
      { params: P({ clientMaxWindowBits: 9 }), response: 'permessage-deflate; client_max_window_bits=9' },
    ],
    // quoted value
    [
      'permessage-deflate; client_max_window_bits="10"',
      {},
      { params: P({ clientMaxWindowBits: 10 }), response: 'permessage-deflate; client_max_window_bits=10' },
    ],
    // server_max_window_bits: use <= the request; a smaller request wins over our option
    [
      'permessage-deflate; server_max_window_bits=10',
      {},
      { params: P({ serverMaxWindowBits: 10 }), response: 'permessage-deflate; server_max_window_bits=10' },
    ],
    [
      'permessage-deflate; server_max_window_bits=10',
      { serverMaxWindowBits: 12 },
      { params: P({ serverMaxWindowBits: 10 }), response: 'permessage-deflate; server_max_window_bits=10' },
    ],
    [
      'permessage-deflate; server_max_window_bits=12',
      { serverMaxWindowBits: 9 },
      { params: P({ serverMaxWindowBits: 9 }), response: 'permessage-deflate; server_max_window_bits=9' },
    ],
    [
      'permessage-deflate',
      { serverMaxWindowBits: 11 },
      { params: P({ serverMaxWindowBits: 11 }), response: 'permessage-deflate; server_max_window_bits=11' },
    ],
    ['permessage-deflate', { serverMaxWindowBits: 15 }, { params: P({}), response: 'permessage-deflate' }],
    // no context takeover
    [
      'permessage-deflate; server_no_context_takeover',
      {},
      { params: P({ serverNoContextTakeover: true }), response: 'permessage-deflate; server_no_context_takeover' },
    ],
    [
      'permessage-deflate',
      { serverNoContextTakeover: true },
      { params: P({ serverNoContextTakeover: true }), response: 'permessage-deflate; server_no_context_takeover' },
    ],
    [
      'permessage-deflate; client_no_context_takeover',
      {},
      { params: P({ clientNoContextTakeover: true }), response: 'permessage-deflate; client_no_context_takeover' },
    ],
    [
      'permessage-deflate',
      { clientNoContextTakeover: true },
      { params: P({ clientNoContextTakeover: true }), response: 'permessage-deflate; client_no_context_takeover' },
    ],
    [
      'permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8',
      {},
      {
        params: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
        response:
          'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8',
      },
    ],
    // the first acceptable offer wins; invalid offers are skipped
    [
      'permessage-deflate; server_max_window_bits=10, permessage-deflate',
      {},
      { params: P({ serverMaxWindowBits: 10 }), response: 'permessage-deflate; server_max_window_bits=10' },
    ],
    ['permessage-deflate; foo, permessage-deflate; server_no_context_takeover', {}, {
      params: P({ serverNoContextTakeover: true }),
      response: 'permessage-deflate; server_no_context_takeover',
    }],
    ['foo, permessage-deflate; client_max_window_bits=16, permessage-deflate; client_max_window_bits=11', {}, {
      params: P({ clientMaxWindowBits: 11 }),
      response: 'permessage-deflate; client_max_window_bits=11',
    }],
    // an offer we cannot satisfy (no client_max_window_bits while we need it) is skipped too
    ['permessage-deflate, permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 9 }, {
      params: P({ clientMaxWindowBits: 9 }),
      response: 'permessage-deflate; client_max_window_bits=9',
    }],
    // several header lines joined, whitespace, empty elements
    [' , permessage-deflate \t;\tclient_max_window_bits = 10 ,, foo', {}, {
      params: P({ clientMaxWindowBits: 10 }),
      response: 'permessage-deflate; client_max_window_bits=10',
    }],
  ])('%j with %j', (header, options, expected) => {
    expect(negotiateServer(header, options)).toEqual(expected);
  });

  test.each([
    'permessage-deflate; server_no_context_takeover=1',
    'permessage-deflate; server_no_context_takeover="x"',
    'permessage-deflate; client_no_context_takeover=true',
    'permessage-deflate; server_max_window_bits',
    'permessage-deflate; server_max_window_bits=7',
    'permessage-deflate; server_max_window_bits=16',
    'permessage-deflate; server_max_window_bits=010',
    'permessage-deflate; server_max_window_bits=+9',
    'permessage-deflate; server_max_window_bits=9.0',
    'permessage-deflate; server_max_window_bits=0x9',
    'permessage-deflate; client_max_window_bits=1e1',
    'permessage-deflate; client_max_window_bits=',
    'permessage-deflate; client_max_window_bits=""',
    'permessage-deflate; client_max_window_bits; client_max_window_bits',
    'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
    'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10',
    'permessage-deflate; unknown',
    'permessage-deflate; __proto__',
    'permessage-deflate; constructor=1',
    'permessage-deflate; hasOwnProperty',
    // malformed headers decline everything, even a valid offer
    'permessage-deflate, permessage-deflate; x="a b"',
    'permessage-deflate; ;',
    'permessage-deflate; client_max_window_bits="10',
    'permessage-deflate server_no_context_takeover',
  ])('declines %j', (header) => {
    expect(negotiateServer(header, {})).toBeNull();
  });

  test('prototype-pollution extension names do not matter', () => {
    expect(negotiateServer('__proto__, constructor; prototype, permessage-deflate', {})).toEqual({
      params: params(),
      response: 'permessage-deflate',
    });
    expect(({} as Record<string, unknown>)['prototype']).toBeUndefined();
  });

  test('fuzz: arbitrary headers never throw, and any answer is a valid single response', () => {
    const vocab = fc.constantFrom(
      'permessage-deflate', 'PERMESSAGE-DEFLATE', 'server_no_context_takeover', 'client_no_context_takeover',
      'server_max_window_bits', 'client_max_window_bits', '8', '9', '10', '15', '16', '07', '"10"', '"', '=', ';', ',',
      ' ', '\t', '__proto__', 'constructor', 'x', '\\', '\u0000', 'é',
    );
    const header = fc.oneof(fc.string(), fc.fullUnicodeString(), fc.array(vocab, { maxLength: 30 }).map((a) => a.join('')));
    const opts = fc.record(
      {
        serverNoContextTakeover: fc.boolean(),
        clientNoContextTakeover: fc.boolean(),
        serverMaxWindowBits: fc.integer({ min: 8, max: 15 }),
        clientMaxWindowBits: fc.integer({ min: 8, max: 15 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(header, opts, (h, o) => {
        const r = negotiateServer(h, o);
        if (r === null) return;
        const parsed = parseExtensionHeader(r.response);
        expect(parsed).not.toBeNull();
        expect(parsed!.length).toBe(1);
        for (const bits of [r.params.serverMaxWindowBits, r.params.clientMaxWindowBits]) {
          expect(bits).toBeGreaterThanOrEqual(8);
          expect(bits).toBeLessThanOrEqual(15);
        }
        if (o.serverMaxWindowBits !== undefined) expect(r.params.serverMaxWindowBits).toBeLessThanOrEqual(o.serverMaxWindowBits);
        if (o.clientMaxWindowBits !== undefined) expect(r.params.clientMaxWindowBits).toBeLessThanOrEqual(o.clientMaxWindowBits);
        // a client that offered everything and asked nothing accepts every answer
        expect(acceptClientResponse(r.response, {})).toEqual(r.params);
      }),
      { numRuns: 5000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// negotiation: client

describe('buildClientOffer', () => {
  test.each<[PerMessageDeflateOptions, string]>([
    [{}, 'permessage-deflate; client_max_window_bits'],
    [{ clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=10'],
    [{ serverMaxWindowBits: 9 }, 'permessage-deflate; server_max_window_bits=9; client_max_window_bits'],
    [
      { clientNoContextTakeover: true, serverNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
      'permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8',
    ],
    [{ level: 9, memLevel: 9, threshold: 0 }, 'permessage-deflate; client_max_window_bits'],
  ])('%j', (opts, offer) => {
    expect(buildClientOffer(opts)).toBe(offer);
    // every offer we build is accepted by our own server
    expect(negotiateServer(offer, {})).not.toBeNull();
  });
});

describe('acceptClientResponse', () => {
  test.each<[string, PerMessageDeflateOptions, DeflateParams]>([
    ['permessage-deflate', {}, params()],
    ['Permessage-Deflate', {}, params()],
    [' permessage-deflate ', {}, params()],
    ['permessage-deflate; server_no_context_takeover', {}, params({ serverNoContextTakeover: true })],
    // client_no_context_takeover may come unasked (RFC 7692 §7.1.1.2)
    ['permessage-deflate; client_no_context_takeover', {}, params({ clientNoContextTakeover: true })],
    // we promised it even if the server does not echo it
    ['permessage-deflate', { clientNoContextTakeover: true }, params({ clientNoContextTakeover: true })],
    ['permessage-deflate; server_max_window_bits=10', {}, params({ serverMaxWindowBits: 10 })],
    ['permessage-deflate; server_max_window_bits="10"', {}, params({ serverMaxWindowBits: 10 })],
    ['permessage-deflate; server_max_window_bits=9', { serverMaxWindowBits: 10 }, params({ serverMaxWindowBits: 9 })],
    ['permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }, params({ serverMaxWindowBits: 10 })],
    ['permessage-deflate; client_max_window_bits=10', {}, params({ clientMaxWindowBits: 10 })],
    ['permessage-deflate; client_max_window_bits=8', { clientMaxWindowBits: 12 }, params({ clientMaxWindowBits: 8 })],
    // a larger value than we promised: we keep our smaller window
    ['permessage-deflate; client_max_window_bits=14', { clientMaxWindowBits: 12 }, params({ clientMaxWindowBits: 12 })],
    ['permessage-deflate', { clientMaxWindowBits: 12 }, params({ clientMaxWindowBits: 12 })],
    [
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8',
      { serverNoContextTakeover: true },
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
    ],
  ])('%j with %j', (header, options, expected) => {
    expect(acceptClientResponse(header, options)).toEqual(expected);
  });

  test.each<[string, PerMessageDeflateOptions]>([
    ['', {}],
    [',', {}],
    ['x-webkit-deflate-frame', {}],
    ['permessage-deflate, permessage-deflate', {}],
    ['permessage-deflate, foo', {}],
    ['permessage-deflate; client_max_window_bits', {}], // a response must give a value
    ['permessage-deflate; client_max_window_bits=7', {}],
    ['permessage-deflate; client_max_window_bits=16', {}],
    ['permessage-deflate; server_max_window_bits=16', {}],
    ['permessage-deflate; server_max_window_bits=010', {}],
    ['permessage-deflate; server_max_window_bits', {}],
    ['permessage-deflate; server_no_context_takeover=1', {}],
    ['permessage-deflate; client_no_context_takeover=1', {}],
    ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', {}],
    ['permessage-deflate; server_max_window_bits=9; server_max_window_bits=9', {}],
    ['permessage-deflate; foo', {}],
    ['permessage-deflate; __proto__', {}],
    ['permessage-deflate; x="a b"', {}],
    ['permessage-deflate;', {}],
    // we asked, the server did not accept
    ['permessage-deflate', { serverNoContextTakeover: true }],
    ['permessage-deflate', { serverMaxWindowBits: 10 }],
    ['permessage-deflate; server_max_window_bits=11', { serverMaxWindowBits: 10 }],
  ])('refuses %j with %j', (header, options) => {
    let caught: unknown;
    try {
      acceptClientResponse(header, options);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HandshakeError);
    expect((caught as HandshakeError).status).toBe(101);
    expect((caught as HandshakeError).message).toMatch(/Sec-WebSocket-Extensions/);
  });

  test('fuzz: only HandshakeError is ever thrown', () => {
    const vocab = fc.constantFrom(
      'permessage-deflate', 'server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits',
      'client_max_window_bits', '8', '12', '15', '16', '"9"', '=', ';', ',', ' ', '__proto__', 'x', '"',
    );
    const header = fc.oneof(fc.string(), fc.fullUnicodeString(), fc.array(vocab, { maxLength: 20 }).map((a) => a.join('')));
    fc.assert(
      fc.property(header, (h) => {
        try {
          const p = acceptClientResponse(h, {});
          expect(p.serverMaxWindowBits).toBeGreaterThanOrEqual(8);
          expect(p.clientMaxWindowBits).toBeLessThanOrEqual(15);
        } catch (err) {
          expect(err).toBeInstanceOf(HandshakeError);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('negotiation interop with ws', () => {
  const cases: Array<[PerMessageDeflateOptions, Record<string, unknown>]> = [
    [{}, {}],
    [{ serverNoContextTakeover: true, clientNoContextTakeover: true }, { serverNoContextTakeover: true, clientNoContextTakeover: true }],
    [{ serverMaxWindowBits: 10, clientMaxWindowBits: 11 }, { serverMaxWindowBits: 10, clientMaxWindowBits: 11 }],
    [{ serverMaxWindowBits: 8, clientMaxWindowBits: 8 }, { serverMaxWindowBits: 8, clientMaxWindowBits: 8 }],
  ];
  test.each(cases)('ws client -> our server (%j)', (ours, theirs) => {
    const client = new WsPMD({ ...theirs, isServer: false });
    const offer = wsExtension.format({ 'permessage-deflate': [client.offer()] });
    const neg = negotiateServer(offer, ours);
    expect(neg).not.toBeNull();
    const accepted = client.accept(wsExtension.parse(neg!.response)['permessage-deflate']!);
    expect(accepted).toBeDefined();
  });
  test.each(cases)('our client -> ws server (%j)', (ours, theirs) => {
    const server = new WsPMD({ ...theirs, isServer: true });
    const accepted = server.accept(wsExtension.parse(buildClientOffer(ours))['permessage-deflate']!);
    const response = wsExtension.format({ 'permessage-deflate': [accepted] });
    expect(() => acceptClientResponse(response, ours)).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------------------------
// RFC 7692 §7.2.3 examples

describe('RFC 7692 §7.2.3 examples', () => {
  test('§7.2.3.1 "Hello" compresses to f2 48 cd c9 c9 07 00 (default settings) and back', async () => {
    const server = track(new PerMessageDeflate(params(), {}, true));
    const client = track(new PerMessageDeflate(params(), {}, false));
    const out = await compress(server, 'Hello');
    expect(out.toString('hex')).toBe('f248cdc9c90700');
    expect((await decompress(client, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
  });

  test('§7.2.3.2 two messages sharing the window: second "Hello" is f2 00 11 00 00', async () => {
    const server = track(new PerMessageDeflate(params(), {}, true));
    const client = track(new PerMessageDeflate(params(), {}, false));
    expect((await compress(server, 'Hello')).toString('hex')).toBe('f248cdc9c90700');
    expect((await compress(server, 'Hello')).toString('hex')).toBe('f200110000');
    expect((await decompress(client, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
    expect((await decompress(client, hex('f2 00 11 00 00'))).toString()).toBe('Hello');
  });

  test('§7.2.3.2 without context takeover, both messages are f2 48 cd c9 c9 07 00', async () => {
    const server = track(new PerMessageDeflate(params({ serverNoContextTakeover: true }), {}, true));
    expect((await compress(server, 'Hello')).toString('hex')).toBe('f248cdc9c90700');
    expect((await compress(server, 'Hello')).toString('hex')).toBe('f248cdc9c90700');
  });

  test('§7.2.3.1 fragmented: f2 48 cd + c9 c9 07 00', async () => {
    const client = track(new PerMessageDeflate(params(), {}, false));
    const a = await decompress(client, hex('f2 48 cd'), false);
    const b = await decompress(client, hex('c9 c9 07 00'), true);
    expect(Buffer.concat([a, b]).toString()).toBe('Hello');
  });

  test('§7.2.3.3 a DEFLATE block with no compression', async () => {
    const client = track(new PerMessageDeflate(params(), {}, false));
    expect((await decompress(client, hex('00 05 00 fa ff 48 65 6c 6c 6f 00'))).toString()).toBe('Hello');
  });

  test('§7.2.3.4 a DEFLATE block with BFINAL set, then the window still carries over', async () => {
    const client = track(new PerMessageDeflate(params(), {}, false));
    expect((await decompress(client, hex('f3 48 cd c9 c9 07 00 00'))).toString()).toBe('Hello');
    // the next message may refer to the previous one's window (context takeover)
    expect((await decompress(client, hex('f2 00 11 00 00'))).toString()).toBe('Hello');
    expect((await decompress(client, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
  });

  test('BFINAL inside a non-final fragment: the rest of the message is ignored', async () => {
    const client = track(new PerMessageDeflate(params(), {}, false));
    const a = await decompress(client, hex('f3 48 cd c9 c9 07 00'), false);
    const b = await decompress(client, hex('ff ff ff'), false);
    const c = await decompress(client, hex('ff'), true);
    expect(Buffer.concat([a, b, c]).toString()).toBe('Hello');
    expect((await decompress(client, hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
  });

  test('§7.2.3.6 empty message: single 00 octet both ways', async () => {
    const server = track(new PerMessageDeflate(params(), {}, true));
    const client = track(new PerMessageDeflate(params(), {}, false));
    const first = await compress(server, '');
    expect(first.toString('hex')).toBe('00');
    expect((await decompress(client, first)).length).toBe(0);
    // after a message, an empty message is still a valid payload
    const hello = await compress(server, 'Hello');
    const empty = await compress(server, '');
    expect(empty.length).toBeGreaterThan(0);
    expect((await decompress(client, hello)).toString()).toBe('Hello');
    expect((await decompress(client, empty)).length).toBe(0);
    expect((await decompress(client, Buffer.alloc(0))).length).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// data path

describe('round trips', () => {
  const messages = [text(3000, 1), text(100, 2), randomBytes(2000), text(70_000, 3), Buffer.alloc(0), text(5000, 1)];

  for (let bits = 8; bits <= 15; bits++) {
    for (const nct of [false, true]) {
      test(`window bits ${bits}, no_context_takeover=${nct}, both directions, whole and fragmented`, async () => {
        const p = params({ serverMaxWindowBits: bits, clientMaxWindowBits: bits, serverNoContextTakeover: nct, clientNoContextTakeover: nct });
        const server = track(new PerMessageDeflate(p, {}, true));
        const client = track(new PerMessageDeflate(p, {}, false));
        for (const [from, to] of [[server, client], [client, server]] as const) {
          for (const m of messages) {
            expect((await decompress(to, await compress(from, m))).equals(m)).toBe(true);
          }
          // fragmented: several non-final compressed pieces, then fin; decompressed fragment by fragment
          for (const m of messages.slice(0, 4)) {
            const pieces = [m.subarray(0, 10), m.subarray(10, 700), m.subarray(700)];
            const outs: Buffer[] = [];
            for (let i = 0; i < pieces.length; i++) outs.push(await compress(from, pieces[i]!, i === pieces.length - 1));
            // non-final pieces are sync-flushed: they end with the flush marker; the last one does not
            expect(outs[1]!.subarray(-4).equals(TAIL)).toBe(true);
            const parts: Buffer[] = [];
            for (let i = 0; i < outs.length; i++) parts.push(await decompress(to, outs[i]!, i === outs.length - 1));
            expect(Buffer.concat(parts).equals(m)).toBe(true);
          }
        }
      });
    }
  }

  test('context takeover actually shrinks a repeated message; no_context_takeover does not', async () => {
    const m = randomBytes(2000, 3);
    const keep = track(new PerMessageDeflate(params(), {}, true));
    const reset = track(new PerMessageDeflate(params({ serverNoContextTakeover: true }), {}, true));
    await compress(keep, m);
    await compress(reset, m);
    expect((await compress(keep, m)).length).toBeLessThan(100);
    expect((await compress(reset, m)).length).toBeGreaterThan(1900);
  });

  test.each([8, 9, 10, 12])('window bits %i: output respects the agreed window (strict reference decoder)', async (bits) => {
    // data with repeats at many distances around the window size
    const window = 1 << bits;
    const parts: Buffer[] = [];
    for (const period of [window - 20, window - 6, window, window + 1, window + 50, 2 * window, 3 * window + 7]) {
      const block = randomBytes(period, period);
      parts.push(block, block, block);
    }
    parts.push(text(20_000));
    const data = Buffer.concat(parts);
    for (const nct of [false, true]) {
      const server = track(new PerMessageDeflate(params({ serverMaxWindowBits: bits, serverNoContextTakeover: nct }), { level: 9 }, true));
      let history: number[] = [];
      for (let i = 0; i < 3; i++) {
        const out = await compress(server, data);
        const r = strictInflate(Buffer.concat([out, TAIL]), window, nct ? [] : history);
        history = r.history;
        expect(r.out.equals(data)).toBe(true);
        if (i === 0 || nct) {
          // a self-contained message: zlib inflates it with exactly that window too
          const z = zlib.inflateRawSync(Buffer.concat([out, TAIL]), { windowBits: bits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
          expect(z.equals(data)).toBe(true);
        }
      }
    }
  });

  test('the reference decoder does catch a too-far distance', () => {
    const block = randomBytes(300);
    const z = zlib.deflateRawSync(Buffer.concat([block, block]), { windowBits: 15, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    expect(() => strictInflate(z, 256)).toThrow(/exceeds/);
    expect(strictInflate(z, 512).out.equals(Buffer.concat([block, block]))).toBe(true);
  });

  test('levels and memLevels', async () => {
    for (const level of [0, 1, 6, 9]) {
      for (const memLevel of [1, 8, 9]) {
        const server = track(new PerMessageDeflate(params(), { level, memLevel }, true));
        const client = track(new PerMessageDeflate(params(), {}, false));
        const m = text(10_000);
        expect((await decompress(client, await compress(server, m))).equals(m)).toBe(true);
      }
    }
  });

  test('back-to-back calls without waiting complete in call order', async () => {
    const { server, client } = pair();
    track(server);
    track(client);
    const order: number[] = [];
    const msgs = Array.from({ length: 30 }, (_, i) => text(500 + i * 97, i + 1));
    const compressed = await Promise.all(msgs.map((m, i) => compress(server, m).then((b) => (order.push(i), b))));
    expect(order).toEqual(msgs.map((_, i) => i));
    // interleave compress and decompress on one instance
    const events: string[] = [];
    await Promise.all(
      compressed.flatMap((c, i) => [
        decompress(client, c).then((out) => {
          events.push(`d${i}`);
          expect(out.equals(msgs[i]!)).toBe(true);
        }),
        compress(client, msgs[i]!).then(() => events.push(`c${i}`)),
      ]),
    );
    expect(events).toEqual(compressed.flatMap((_, i) => [`d${i}`, `c${i}`]));
  });
});

describe('interop with ws PerMessageDeflate (data)', () => {
  const configs: Array<[string, PerMessageDeflateOptions]> = [
    ['defaults', {}],
    ['no context takeover', { serverNoContextTakeover: true, clientNoContextTakeover: true }],
    ['window 9/10', { serverMaxWindowBits: 9, clientMaxWindowBits: 10 }],
    ['window 8', { serverMaxWindowBits: 8, clientMaxWindowBits: 8 }],
  ];
  const msgs = [text(5000, 1), text(5000, 1), text(2000, 2), randomBytes(3000), Buffer.alloc(0), text(40_000, 4)];

  test.each(configs)('our server <-> ws client (%s)', async (_name, opts) => {
    const wsClient = new WsPMD({ ...opts, isServer: false });
    const neg = negotiateServer(wsExtension.format({ 'permessage-deflate': [wsClient.offer()] }), opts)!;
    wsClient.accept(wsExtension.parse(neg.response)['permessage-deflate']!);
    const server = track(new PerMessageDeflate(neg.params, opts, true));
    try {
      for (const m of msgs) {
        const down = await compress(server, m);
        expect((await wsCall((cb) => wsClient.decompress(down, true, cb))).equals(m)).toBe(true);
        const up = await wsCall((cb) => wsClient.compress(m, true, cb));
        expect((await decompress(server, up)).equals(m)).toBe(true);
      }
    } finally {
      wsClient.cleanup();
    }
  });

  test.each(configs)('our client <-> ws server (%s)', async (_name, opts) => {
    const wsServer = new WsPMD({ ...opts, isServer: true });
    const accepted = wsServer.accept(wsExtension.parse(buildClientOffer(opts))['permessage-deflate']!);
    const clientParams = acceptClientResponse(wsExtension.format({ 'permessage-deflate': [accepted] }), opts);
    const client = track(new PerMessageDeflate(clientParams, opts, false));
    try {
      for (const m of msgs) {
        const up = await compress(client, m);
        expect((await wsCall((cb) => wsServer.decompress(up, true, cb))).equals(m)).toBe(true);
        const down = await wsCall((cb) => wsServer.compress(m, true, cb));
        expect((await decompress(client, down)).equals(m)).toBe(true);
      }
      // fragmented message from us, whole on their side
      const m = text(9000, 9);
      const a = await compress(client, m.subarray(0, 4000), false);
      const b = await compress(client, m.subarray(4000), true);
      const got = Buffer.concat([
        await wsCall((cb) => wsServer.decompress(a, false, cb)),
        await wsCall((cb) => wsServer.decompress(b, true, cb)),
      ]);
      expect(got.equals(m)).toBe(true);
    } finally {
      wsServer.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// limits and errors

/** ~1 MiB of raw deflate that inflates to 1 GiB of zeros, built from one byte-aligned 8 MiB segment. */
function makeBomb(): { payload: Buffer; inflatedSize: number } {
  const segmentSize = 8 * 1024 * 1024;
  const segment = zlib.deflateRawSync(Buffer.alloc(segmentSize), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const copies = 128;
  return { payload: Buffer.concat(Array<Buffer>(copies).fill(segment)), inflatedSize: segmentSize * copies };
}

describe('decompression limits', () => {
  test('sanity: the bomb is a real bomb', () => {
    const { payload } = makeBomb();
    expect(payload.length).toBeLessThan(2 * 1024 * 1024);
    // the first few segments inflate correctly (checking all of it would take the time the test avoids)
    const head = zlib.inflateRawSync(payload.subarray(0, (payload.length / 128) * 2), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    expect(head.length).toBe(16 * 1024 * 1024);
  });

  test('a 1 GiB bomb fails fast with 1009, memory stays bounded', async () => {
    const { payload } = makeBomb();
    const client = track(new PerMessageDeflate(params(), {}, false));
    global.gc?.();
    const before = process.memoryUsage();
    let peakRss = before.rss;
    let peakAb = before.arrayBuffers;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakAb = Math.max(peakAb, m.arrayBuffers);
    }, 1);
    const t0 = Date.now();
    const err = await decompress(client, payload, true, 1024 * 1024).then(
      () => null,
      (e: unknown) => e,
    );
    clearInterval(sampler);
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakAb = Math.max(peakAb, m.arrayBuffers);
    expect(err).toBeInstanceOf(WebSocketError);
    expect((err as WebSocketError).closeCode).toBe(1009);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(peakAb - before.arrayBuffers).toBeLessThan(64 * 1024 * 1024);
    expect(peakRss - before.rss).toBeLessThan(64 * 1024 * 1024);
    // the instance stays failed, and is safe to close
    await expect(decompress(client, hex('f2 48 cd c9 c9 07 00'))).rejects.toMatchObject({ closeCode: 1009 });
    client.close();
    client.close();
  });

  test('the limit counts the whole message across fragments, and is inclusive', async () => {
    const { server, client } = pair();
    track(server);
    track(client);
    const m = text(100_000);
    const c = await compress(server, m);
    // exactly the limit is fine
    expect((await decompress(client, c, true, m.length)).length).toBe(m.length);
    const c2 = await compress(server, m);
    const half = Math.floor(c2.length / 2);
    const a = await decompress(client, c2.subarray(0, half), false, m.length - 1);
    expect(a.length).toBeLessThan(m.length);
    await expect(decompress(client, c2.subarray(half), true, m.length - 1)).rejects.toMatchObject({ closeCode: 1009 });
  });

  test('the byte count restarts with each message', async () => {
    const { server, client } = pair();
    track(server);
    track(client);
    for (let i = 0; i < 5; i++) {
      const m = text(50_000, i + 1);
      expect((await decompress(client, await compress(server, m), true, 50_000)).equals(m)).toBe(true);
    }
  });

  test('corrupt data fails with 1007, later calls fail too, close is safe', async () => {
    const client = track(new PerMessageDeflate(params(), {}, false));
    const err = await decompress(client, hex('ff ff ff ff ff')).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WebSocketError);
    expect((err as WebSocketError).closeCode).toBe(1007);
    await expect(decompress(client, hex('f2 48 cd c9 c9 07 00'))).rejects.toMatchObject({ closeCode: 1007 });
    // compression is unaffected
    expect((await compress(client, 'Hello')).toString('hex')).toBe('f248cdc9c90700');
    client.close();
  });

  test('a peer exceeding the agreed window fails with 1007', async () => {
    // the peer compresses with a 32 KiB window although 9 bits were agreed: its second message refers 600 bytes back
    const block = randomBytes(600);
    const peer = track(new PerMessageDeflate(params(), {}, true));
    const first = await compress(peer, block);
    const second = await compress(peer, block);
    expect(second.length).toBeLessThan(20);
    const client = track(new PerMessageDeflate(params({ serverMaxWindowBits: 9 }), {}, false));
    expect((await decompress(client, first)).equals(block)).toBe(true);
    await expect(decompress(client, second)).rejects.toMatchObject({ closeCode: 1007 });
  });

  test('fuzz: arbitrary bytes only ever produce output or a WebSocketError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.boolean()), { minLength: 1, maxLength: 5 }),
        async (frames) => {
          const client = new PerMessageDeflate(params(), {}, false);
          try {
            for (const [bytes, fin] of frames) {
              try {
                const out = await decompress(client, Buffer.from(bytes), fin, 4096);
                expect(Buffer.isBuffer(out)).toBe(true);
              } catch (err) {
                expect(err).toBeInstanceOf(WebSocketError);
                expect([1007, 1009]).toContain((err as WebSocketError).closeCode);
              }
            }
          } finally {
            client.close();
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('UTF-8 of inflated text, checked as zlib produces it', () => {
  const NCT = params({ serverNoContextTakeover: true, clientNoContextTakeover: true });
  const run = (p: PerMessageDeflate, data: Buffer, fin: boolean, maxSize: number, utf8: Utf8Validator): Promise<Buffer> =>
    new Promise((resolve, reject) => p.decompress(data, fin, maxSize, (err, out) => (err ? reject(err) : resolve(out as Buffer)), utf8));

  test.each([
    ['stream (context takeover)', params()],
    ['one-shot (no context takeover)', NCT],
  ])('%s: valid text passes through and the validator sees every byte', async (_name, p) => {
    const client = track(new PerMessageDeflate(p, {}, false));
    const m = Buffer.from('κόσμε '.repeat(5000));
    const c = zlib.deflateRawSync(m, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const utf8 = new Utf8Validator();
    expect((await run(client, c, true, 64 * 1024 * 1024, utf8)).equals(m)).toBe(true);
    expect(utf8.end()).toBe(true);
    // A fragment ending inside a character leaves the validator waiting for the rest.
    const cut = zlib.deflateRawSync(Buffer.from([0x61, 0xce]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const v2 = new Utf8Validator();
    await run(client, cut, true, 1024, v2);
    expect(v2.end()).toBe(false);
  });

  test.each([
    ['stream (context takeover)', params()],
    ['one-shot (no context takeover)', NCT],
  ])('%s: invalid text fails with 1007, and the instance stays failed', async (_name, p) => {
    const client = track(new PerMessageDeflate(p, {}, false));
    const c = zlib.deflateRawSync(Buffer.from([0x61, 0xff, 0x62]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    await expect(run(client, c, true, 1024, new Utf8Validator())).rejects.toMatchObject({ closeCode: 1007 });
    await expect(decompress(client, hex('f2 48 cd c9 c9 07 00'))).rejects.toMatchObject({ closeCode: 1007 });
  });

  test('on the stream, invalid text at the start fails before the message is inflated past maxSize (1007, not 1009)', async () => {
    const client = track(new PerMessageDeflate(params(), {}, false));
    const m = Buffer.concat([Buffer.from([0xff]), Buffer.alloc(4 * 1024 * 1024, 0x61)]);
    const c = zlib.deflateRawSync(m, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    await expect(run(client, c, true, 1024 * 1024, new Utf8Validator())).rejects.toMatchObject({ closeCode: 1007 });
  });
});

describe('close()', () => {
  test('pending callbacks get an error, later calls too; nothing is left pending', async () => {
    const { server, client } = pair();
    const results = Array.from({ length: 10 }, (_, i) => compress(server, text(20_000, i + 1)).then(() => 'ok', () => 'err'));
    const dResults = [decompress(client, hex('f2 48 cd c9 c9 07 00')).then(() => 'ok', () => 'err')];
    server.close();
    client.close();
    const all = await Promise.all([...results, ...dResults]);
    expect(all.every((r) => r === 'err')).toBe(true);
    await expect(compress(server, 'x')).rejects.toThrow(/closed/);
    await expect(decompress(client, hex('00'))).rejects.toThrow(/closed/);
    server.close();
    // the limiter was not leaked
    await new Promise((r) => setTimeout(r, 50));
    expect(zlibLimiter.active).toBe(0);
    expect(zlibLimiter.queued).toBe(0);
  });

  test('close inside a callback', async () => {
    const { server } = pair();
    await new Promise<void>((resolve) => {
      server.compress(Buffer.from('a'), true, () => {
        server.close();
        resolve();
      });
      server.compress(Buffer.from('b'), true, () => undefined);
    });
  });

  test('close before anything ran is fine', () => {
    new PerMessageDeflate(params(), {}, true).close();
  });
});

describe('zlib limiter', () => {
  test('unit: FIFO, never more than the limit, synchronous done, idempotent done', () => {
    const l = new ZlibLimiter();
    const started: number[] = [];
    const dones: Array<() => void> = [];
    for (let i = 0; i < 6; i++) {
      l.run((done) => {
        started.push(i);
        dones.push(done);
      }, 2);
    }
    expect(started).toEqual([0, 1]);
    expect(l.active).toBe(2);
    expect(l.queued).toBe(4);
    dones[0]!();
    dones[0]!(); // a second call is ignored
    expect(started).toEqual([0, 1, 2]);
    expect(l.active).toBe(2);
    // jobs that finish synchronously drain the queue without recursion
    for (let i = 0; i < 10_000; i++) l.run((done) => done(), 2);
    dones[1]!();
    dones[2]!();
    dones[3]!();
    dones[4]!();
    dones[5]!();
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(l.active).toBe(0);
    expect(l.queued).toBe(0);
  });

  test('unit: each job obeys its own limit, in FIFO order', () => {
    const l = new ZlibLimiter();
    const started: string[] = [];
    const dones: Array<() => void> = [];
    const job = (name: string) => (done: () => void) => {
      started.push(name);
      dones.push(done);
    };
    l.run(job('a'), 10);
    l.run(job('b'), 10);
    l.run(job('c'), 2); // waits: 2 running
    l.run(job('d'), 10); // FIFO: waits behind c
    expect(started).toEqual(['a', 'b']);
    dones[0]!();
    expect(started).toEqual(['a', 'b', 'c', 'd']);
  });

  test('unit: a throwing job releases its slot and its error is rethrown on the next tick', () => {
    const l = new ZlibLimiter();
    const deferred: Array<() => void> = [];
    const spy = jest.spyOn(process, 'nextTick').mockImplementation(((fn: () => void) => {
      deferred.push(fn);
    }) as unknown as typeof process.nextTick);
    let ran = false;
    try {
      l.run(() => {
        throw new Error('boom');
      }, 1);
      l.run((done) => {
        ran = true;
        done();
      }, 1);
    } finally {
      spy.mockRestore();
    }
    expect(ran).toBe(true);
    expect(l.active).toBe(0);
    expect(deferred).toHaveLength(1);
    expect(() => deferred[0]!()).toThrow('boom');
  });

  test('20 concurrent jobs over 5 connections with maxConcurrency 2: never more than 2 zlib jobs at once, order kept', async () => {
    const original = zlibLimiter.run.bind(zlibLimiter);
    let inFlight = 0;
    let peak = 0;
    const spy = jest.spyOn(zlibLimiter, 'run').mockImplementation((job, limit) =>
      original((done) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        job(() => {
          inFlight--;
          done();
        });
      }, limit),
    );
    try {
      const opts = { maxConcurrency: 2 };
      const conns = Array.from({ length: 5 }, () => track(new PerMessageDeflate(params(), opts, true)));
      const order = conns.map(() => [] as number[]);
      const jobs: Array<Promise<void>> = [];
      for (let i = 0; i < 20; i++) {
        const k = i % conns.length;
        jobs.push(
          compress(conns[k]!, text(30_000, i + 1)).then(() => {
            order[k]!.push(i);
            expect(zlibLimiter.active).toBeLessThanOrEqual(2);
          }),
        );
        expect(zlibLimiter.active).toBeLessThanOrEqual(2);
      }
      await Promise.all(jobs);
      expect(peak).toBe(2);
      expect(spy).toHaveBeenCalledTimes(20);
      order.forEach((o, k) => expect(o).toEqual([k, k + 5, k + 10, k + 15]));
    } finally {
      spy.mockRestore();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// synchronous fast path (whole, small messages without context takeover)

describe('synchronous fast path', () => {
  const NCT = params({ serverNoContextTakeover: true, clientNoContextTakeover: true });

  /** Calls compress/decompress and reports whether the callback ran before the call returned. */
  function callSync(
    start: (cb: (err: Error | null, out?: Buffer) => void) => void,
  ): Promise<{ sync: boolean; err: Error | null; out: Buffer | undefined }> {
    return new Promise((resolve) => {
      let returned = false;
      start((err, out) => resolve({ sync: !returned, err, out }));
      returned = true;
    });
  }
  const syncCompress = (p: PerMessageDeflate, data: Buffer | string, fin = true) =>
    callSync((cb) => p.compress(Buffer.from(data), fin, cb));
  const syncDecompress = (p: PerMessageDeflate, data: Buffer, fin = true, maxSize = 64 * 1024 * 1024) =>
    callSync((cb) => p.decompress(data, fin, maxSize, cb));

  /** The outcome of a call, comparable across paths: output bytes or error close code. */
  const outcome = (r: { err: Error | null; out: Buffer | undefined }): string =>
    r.err !== null ? `error ${(r.err as WebSocketError).closeCode}` : `ok ${(r.out as Buffer).toString('hex')}`;

  test('whole small messages are compressed and decompressed synchronously, only without context takeover', async () => {
    const server = track(new PerMessageDeflate(NCT, {}, true));
    const client = track(new PerMessageDeflate(NCT, {}, false));
    const m = text(1024);
    const c = await syncCompress(server, m);
    expect(c.sync).toBe(true);
    const d = await syncDecompress(client, c.out!);
    expect(d.sync).toBe(true);
    expect(d.out!.equals(m)).toBe(true);

    // our side keeps its context: compress is async, decompress (peer resets) is sync
    const half = params({ serverNoContextTakeover: false, clientNoContextTakeover: true });
    const server2 = track(new PerMessageDeflate(half, {}, true));
    expect((await syncCompress(server2, m)).sync).toBe(false);
    const up = (await syncCompress(track(new PerMessageDeflate(half, {}, false)), m));
    expect(up.sync).toBe(true);
    expect((await syncDecompress(server2, up.out!)).sync).toBe(true);
    // the client side of the same agreement: the peer (server) keeps its context, so inflating is async
    const client2 = track(new PerMessageDeflate(half, {}, false));
    expect((await syncDecompress(client2, hex('f2 48 cd c9 c9 07 00'))).sync).toBe(false);
  });

  test('fragments, large messages, and messages behind a pending job take the async path', async () => {
    const server = track(new PerMessageDeflate(NCT, {}, true));
    const client = track(new PerMessageDeflate(NCT, {}, false));
    // fragmented message: neither fragment is synchronous, even the small final one
    const m = text(3000, 5);
    const a = await syncCompress(server, m.subarray(0, 1000), false);
    const b = await syncCompress(server, m.subarray(1000), true);
    expect([a.sync, b.sync]).toEqual([false, false]);
    const da = await syncDecompress(client, a.out!, false);
    const db = await syncDecompress(client, b.out!, true);
    expect([da.sync, db.sync]).toEqual([false, false]);
    expect(Buffer.concat([da.out!, db.out!]).equals(m)).toBe(true);
    // and the next whole message is synchronous again
    expect((await syncCompress(server, m)).sync).toBe(true);

    // input over 16 KiB
    const big = await syncCompress(server, text(16 * 1024 + 1));
    expect(big.sync).toBe(false);
    expect((await syncCompress(server, text(16 * 1024))).sync).toBe(true);

    // a small message behind a pending async job waits for it: callbacks in call order
    const order: string[] = [];
    const p1 = compress(server, text(40_000, 2)).then(() => order.push('big'));
    let syncSmall = true;
    let returned = false;
    const p2 = new Promise<void>((resolve) =>
      server.compress(Buffer.from('small'), true, () => {
        syncSmall = !returned;
        order.push('small');
        resolve();
      }),
    );
    returned = true;
    await Promise.all([p1, p2]);
    expect(syncSmall).toBe(false);
    expect(order).toEqual(['big', 'small']);
  });

  test('a compress never overtakes a pending decompress of the same instance, and vice versa', async () => {
    const peer = track(new PerMessageDeflate(NCT, {}, false));
    const server = track(new PerMessageDeflate(NCT, {}, true));
    const bigUp = await compress(peer, text(60_000, 3));
    const smallUp = await compress(peer, text(1000, 4));
    const events: string[] = [];
    const all = [
      decompress(server, bigUp).then(() => events.push('d-big')),
      compress(server, text(1000, 5)).then(() => events.push('c-small')),
      decompress(server, smallUp).then(() => events.push('d-small')),
    ];
    await Promise.all(all);
    expect(events).toEqual(['d-big', 'c-small', 'd-small']);
  });

  test('a synchronous callback may call again (re-entrancy)', async () => {
    const server = track(new PerMessageDeflate(NCT, {}, true));
    const client = track(new PerMessageDeflate(NCT, {}, false));
    const outs: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const next = (i: number): void => {
        if (i === 50) return resolve();
        server.compress(text(1100, i + 1), true, (err, out) => {
          if (err) return reject(err);
          client.decompress(out!, true, 1 << 20, (err2, back) => {
            if (err2) return reject(err2);
            outs.push(back!);
            next(i + 1);
          });
        });
      };
      next(0);
    });
    outs.forEach((o, i) => expect(o.equals(text(1100, i + 1))).toBe(true));
  });

  test('the fast path does not use the zlib limiter', async () => {
    const spy = jest.spyOn(zlibLimiter, 'run');
    try {
      const server = track(new PerMessageDeflate(NCT, {}, true));
      const client = track(new PerMessageDeflate(NCT, {}, false));
      for (let i = 0; i < 10; i++) await decompress(client, await compress(server, text(2000, i + 1)));
      expect(spy).not.toHaveBeenCalled();
      await compress(server, text(20_000));
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  test('after close(), calls fail asynchronously', async () => {
    const server = new PerMessageDeflate(NCT, {}, true);
    server.close();
    const r = await syncCompress(server, 'x');
    expect(r.sync).toBe(false);
    expect(r.err?.message).toMatch(/closed/);
    const r2 = await syncDecompress(server, hex('f2 48 cd c9 c9 07 00'));
    expect(r2.sync).toBe(false);
  });

  test('RFC 7692 §7.2.3 outputs: "Hello" twice is f2 48 cd c9 c9 07 00, empty message is 00', async () => {
    const server = track(new PerMessageDeflate(NCT, {}, true));
    for (let i = 0; i < 2; i++) {
      const r = await syncCompress(server, 'Hello');
      expect(r.sync).toBe(true);
      expect(r.out!.toString('hex')).toBe('f248cdc9c90700');
    }
    const e = await syncCompress(server, '');
    expect(e.sync).toBe(true);
    expect(e.out!.toString('hex')).toBe('00');
  });

  // Each case is decompressed as a whole message by a fresh instance on the sync path (the peer resets its
  // context) and on the async path (a fresh instance whose peer keeps its context: for a first message the
  // two agree on what the bytes mean). Outcomes must match exactly.
  const cases: Array<[string, Buffer]> = [
    ['§7.2.3.1 Hello', hex('f2 48 cd c9 c9 07 00')],
    ['§7.2.3.2 second Hello (refers back before the message: invalid on its own)', hex('f2 00 11 00 00')],
    ['§7.2.3.3 stored block', hex('00 05 00 fa ff 48 65 6c 6c 6f 00')],
    ['§7.2.3.4 BFINAL', hex('f3 48 cd c9 c9 07 00 00')],
    ['BFINAL without the trailing 00', hex('f3 48 cd c9 c9 07 00')],
    ['BFINAL followed by garbage', hex('f3 48 cd c9 c9 07 00 ff ff ff')],
    ['§7.2.3.5 two blocks', hex('f2 48 05 00 00 00 ff ff ca c9 c9 07 00')],
    ['§7.2.3.6 empty', hex('00')],
    ['zero-length payload', Buffer.alloc(0)],
    ['truncated (f2 48 cd)', hex('f2 48 cd')],
    ['truncated stored block', hex('00 05 00 fa ff 48 65')],
    ['corrupt', hex('ff ff ff ff ff')],
    ['reserved block type', hex('07')],
    ['bad stored length', hex('00 05 00 00 00 48 65 6c 6c 6f')],
    ['sync-flush marker inside', hex('00 00 00 ff ff f2 48 cd c9 c9 07 00')],
  ];

  async function bothPaths(data: Buffer, maxSize: number): Promise<[string, string, boolean]> {
    const fast = track(new PerMessageDeflate(NCT, {}, false));
    const slow = track(new PerMessageDeflate(params(), {}, false));
    const a = await syncDecompress(fast, data, true, maxSize);
    const b = await syncDecompress(slow, data, true, maxSize);
    expect(b.sync).toBe(false);
    return [outcome(a), outcome(b), a.sync];
  }

  test.each(cases)('sync and async inflate agree: %s', async (_name, data) => {
    const [fast, slow, sync] = await bothPaths(data, 64 * 1024 * 1024);
    expect(sync).toBe(true);
    expect(fast).toBe(slow);
    // and with a limit that every non-empty output exceeds
    const [fast2, slow2] = await bothPaths(data, 2);
    expect(fast2).toBe(slow2);
  });

  test('sync and async inflate agree on the examples (spot check of the expected outcomes)', async () => {
    expect((await bothPaths(hex('f3 48 cd c9 c9 07 00 ff ff ff'), 100))[0]).toBe(`ok ${Buffer.from('Hello').toString('hex')}`);
    expect((await bothPaths(hex('f2 48 cd c9 c9 07 00'), 4))[0]).toBe('error 1009');
    expect((await bothPaths(hex('f2 48 cd c9 c9 07 00'), 5))[0]).toBe(`ok ${Buffer.from('Hello').toString('hex')}`);
    expect((await bothPaths(hex('ff ff ff ff ff'), 100))[0]).toBe('error 1007');
  });

  test('fuzz: sync and async inflate agree on arbitrary and truncated inputs', async () => {
    const real = [text(3000, 1), randomBytes(500), text(200, 2)].map((m) =>
      zlib.deflateRawSync(m, { level: 1, finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4),
    );
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
      fc.tuple(fc.constantFrom(...real), fc.nat(), fc.uint8Array({ maxLength: 4 })).map(([r, cut, junk]) =>
        Buffer.concat([r.subarray(0, cut % (r.length + 1)), Buffer.from(junk)]),
      ),
    );
    await fc.assert(
      fc.asyncProperty(input, fc.constantFrom(0, 1, 100, 2000, 64 * 1024 * 1024), async (data, maxSize) => {
        const [fast, slow] = await bothPaths(data, maxSize);
        expect(fast).toBe(slow);
        for (const p of instances.splice(0)) p.close();
      }),
      { numRuns: 400 },
    );
  });

  test('the limit is inclusive; an error fails the instance for good, as on the async path', async () => {
    const m = text(5000, 8);
    const c = zlib.deflateRawSync(m, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const ok = track(new PerMessageDeflate(NCT, {}, false));
    const r = await syncDecompress(ok, c, true, m.length);
    expect(r.sync).toBe(true);
    expect(r.out!.equals(m)).toBe(true);

    const tooBig = track(new PerMessageDeflate(NCT, {}, false));
    const r2 = await syncDecompress(tooBig, c, true, m.length - 1);
    expect(r2.sync).toBe(true);
    expect(r2.err).toBeInstanceOf(WebSocketError);
    expect((r2.err as WebSocketError).closeCode).toBe(1009);
    await expect(decompress(tooBig, hex('f2 48 cd c9 c9 07 00'))).rejects.toMatchObject({ closeCode: 1009 });

    const corrupt = track(new PerMessageDeflate(NCT, {}, false));
    const r3 = await syncDecompress(corrupt, hex('ff ff ff'));
    expect(r3.sync).toBe(true);
    expect((r3.err as WebSocketError).closeCode).toBe(1007);
    await expect(decompress(corrupt, hex('f2 48 cd c9 c9 07 00'))).rejects.toMatchObject({ closeCode: 1007 });
    // compression still works
    expect((await compress(corrupt, 'Hello')).toString('hex')).toBe('f248cdc9c90700');
  });

  test('a small payload inflating past the 256 KiB sync cap is redone asynchronously (bounded both ways)', async () => {
    // ~8 KiB of deflate that inflates to 8 MiB of zeros
    const zeros = Buffer.alloc(8 * 1024 * 1024);
    const payload = zlib.deflateRawSync(zeros, { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    expect(payload.length).toBeLessThan(16 * 1024);

    const client = track(new PerMessageDeflate(NCT, {}, false));
    const r = await syncDecompress(client, payload, true, 64 * 1024 * 1024);
    expect(r.sync).toBe(false);
    expect(r.out!.equals(zeros)).toBe(true);
    // the instance is fine afterwards, and back on the fast path
    const r2 = await syncDecompress(client, hex('f2 48 cd c9 c9 07 00'));
    expect(r2.sync).toBe(true);
    expect(r2.out!.toString()).toBe('Hello');

    // maxSize between the cap and the output: the async path catches it
    const client2 = track(new PerMessageDeflate(NCT, {}, false));
    const r3 = await syncDecompress(client2, payload, true, 1024 * 1024);
    expect(r3.sync).toBe(false);
    expect((r3.err as WebSocketError).closeCode).toBe(1009);

    // maxSize below the cap: decided synchronously, without inflating more than maxSize + 1 bytes
    const client3 = track(new PerMessageDeflate(NCT, {}, false));
    // the module object itself (the `import * as` namespace is a frozen copy of getters)
    const spy = jest.spyOn(require('zlib') as typeof zlib, 'inflateRawSync');
    try {
      const r4 = await syncDecompress(client3, payload, true, 100_000);
      expect(r4.sync).toBe(true);
      expect((r4.err as WebSocketError).closeCode).toBe(1009);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0]![1]).toMatchObject({ maxOutputLength: 100_001 });
    } finally {
      spy.mockRestore();
    }
    // maxSize exactly the cap
    const client4 = track(new PerMessageDeflate(NCT, {}, false));
    const r5 = await syncDecompress(client4, payload, true, 256 * 1024);
    expect(r5.sync).toBe(true);
    expect((r5.err as WebSocketError).closeCode).toBe(1009);
  });

  test.each([8, 9, 10, 11, 12, 13, 14, 15])('window bits %i: sync output respects the agreed window, both paths round-trip', async (bits) => {
    const p = params({ serverMaxWindowBits: bits, clientMaxWindowBits: bits, serverNoContextTakeover: true, clientNoContextTakeover: true });
    const window = 1 << bits;
    const parts: Buffer[] = [];
    for (const period of [window - 20, window, window + 50, 2 * window]) {
      const block = randomBytes(Math.min(period, 3000), period);
      parts.push(block, block);
    }
    const samples = [Buffer.concat(parts).subarray(0, 16 * 1024), text(1024, bits), text(100, bits), text(16 * 1024, bits), randomBytes(5000, bits)];
    for (const level of [1, 9]) {
      const server = track(new PerMessageDeflate(p, { level }, true));
      const client = track(new PerMessageDeflate(p, {}, false));
      for (const m of samples) {
        const c = await syncCompress(server, m);
        expect(c.sync).toBe(true);
        expect(strictInflate(Buffer.concat([c.out!, TAIL]), window).out.equals(m)).toBe(true);
        const d = await syncDecompress(client, c.out!);
        expect(d.sync).toBe(true);
        expect(d.out!.equals(m)).toBe(true);
      }
    }
  });

  test('compression output is not worse than the async path on small JSON-like messages', async () => {
    const fast = track(new PerMessageDeflate(NCT, {}, true));
    const slow = track(new PerMessageDeflate(params({ serverNoContextTakeover: true }), {}, true));
    for (const n of [100, 1024, 4096, 16 * 1024]) {
      const m = text(n, n);
      const a = (await syncCompress(fast, m)).out!;
      // force the async path: a fragment first, then the message
      const b = Buffer.concat([await compress(slow, m.subarray(0, 0), false), await compress(slow, m, true)]);
      expect(a.length).toBeLessThanOrEqual(b.length);
    }
  });

  test('interop with ws PerMessageDeflate, no context takeover, window bits 8–15, many small messages', async () => {
    for (const bits of [8, 9, 12, 15]) {
      const opts: PerMessageDeflateOptions = {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: bits,
        clientMaxWindowBits: bits,
      };
      const wsClient = new WsPMD({ ...opts, isServer: false });
      const neg = negotiateServer(wsExtension.format({ 'permessage-deflate': [wsClient.offer()] }), opts)!;
      wsClient.accept(wsExtension.parse(neg.response)['permessage-deflate']!);
      expect(neg.params).toMatchObject({ serverNoContextTakeover: true, clientNoContextTakeover: true });
      const server = track(new PerMessageDeflate(neg.params, opts, true));
      try {
        for (let i = 0; i < 30; i++) {
          const m = i % 7 === 0 ? Buffer.alloc(0) : i % 5 === 0 ? randomBytes(1500, i) : text(200 + i * 300, i);
          const down = await syncCompress(server, m);
          expect(down.sync).toBe(true);
          expect((await wsCall((cb) => wsClient.decompress(down.out!, true, cb))).equals(m)).toBe(true);
          const up = await wsCall((cb) => wsClient.compress(m, true, cb));
          const back = await syncDecompress(server, up);
          expect(back.sync).toBe(true);
          expect(back.out!.equals(m)).toBe(true);
        }
      } finally {
        wsClient.cleanup();
      }
    }
  });
});
