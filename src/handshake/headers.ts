// Header helpers for the opening handshake (RFC 6455 §4, RFC 7230 §3.2).
//
// Everything here is a linear, hand-written scan: no regular expression with backtracking ever sees a
// header value (ws CVE-2021-32640 was a ReDoS in exactly this place), and every reader copes with a
// header that is absent, duplicated, or delivered by node as an array (ws CVE-2024-37890 crashed on a
// request whose header count made a lookup return undefined).
import type * as http from 'http';

/**
 * A map from header name to value with no prototype, so that a peer-chosen name such as `__proto__`
 * or `constructor` can never reach `Object.prototype` or read an inherited member.
 */
export type HeaderMap = Record<string, string>;

/** Makes an empty {@link HeaderMap}; use it wherever names that came off the wire become keys. */
export function createHeaderMap(): HeaderMap {
  return Object.create(null) as HeaderMap;
}

/** The parts of a parsed HTTP message the readers below need; both `IncomingMessage` kinds fit. */
export interface HeaderSource {
  headers: http.IncomingHttpHeaders;
  rawHeaders?: string[];
}

const CODE_A = 0x41;
const CODE_Z = 0x5a;

/**
 * Lower-cases A–Z only. `String.prototype.toLowerCase` is locale-free but Unicode-aware: it maps
 * U+212A KELVIN SIGN to "k" and U+0130 to two code units, which would let a crafted value compare equal
 * to an ASCII token. Header tokens are ASCII, so the comparison must be too.
 */
export function asciiLower(s: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= CODE_A && c <= CODE_Z) {
      out += s.slice(start, i) + String.fromCharCode(c + 0x20);
      start = i + 1;
    }
  }
  return start === 0 ? s : out + s.slice(start);
}

/** ASCII case-insensitive equality, as header names, tokens and hosts are compared. */
export function equalsIgnoreAsciiCase(a: string, b: string): boolean {
  return a.length === b.length && regionEqualsIgnoreAsciiCase(a, 0, a.length, b);
}

// s[start, end) equals `b` ASCII case-insensitively, without building a string (headers are scanned per handshake).
function regionEqualsIgnoreAsciiCase(s: string, start: number, end: number, b: string): boolean {
  if (end - start !== b.length) return false;
  for (let i = 0; i < b.length; i++) {
    let x = s.charCodeAt(start + i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= CODE_A && x <= CODE_Z) x += 0x20;
    if (y >= CODE_A && y <= CODE_Z) y += 0x20;
    if (x !== y) return false;
  }
  return true;
}

/** RFC 7230 §3.2.6 tchar: "!#$%&'*+-.^_`|~", digits and letters. Indexed by char code. */
const TCHAR: readonly boolean[] = (() => {
  const table: boolean[] = new Array<boolean>(128).fill(false);
  for (const ch of "!#$%&'*+-.^_`|~") table[ch.charCodeAt(0)] = true;
  for (let c = 0x30; c <= 0x39; c++) table[c] = true;
  for (let c = 0x41; c <= 0x5a; c++) table[c] = true;
  for (let c = 0x61; c <= 0x7a; c++) table[c] = true;
  return table;
})();

/**
 * True when `s` is a non-empty RFC 7230 token. Header names, subprotocol names (RFC 6455 §4.1) and
 * extension names are tokens; anything else in those places is either a bug or an injection attempt.
 */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || !TCHAR[c]) return false;
  }
  return true;
}

/**
 * True when `value` may be written as a header value: HTAB, visible ASCII, space and obs-text
 * (0x80–0xFF) only. This rejects CR, LF and NUL — the characters of response splitting — and the other
 * controls, and code points above 0xFF, which a latin1 write would silently truncate into something else.
 * It is the same rule node's own `http` module enforces.
 */
export function isSafeHeaderValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x09) continue;
    if (c < 0x20 || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/**
 * Throws a TypeError unless `name` is a token and `value` a safe header value. The message names the
 * header but never echoes the value, so an error page or a log cannot become the injection vector.
 */
export function assertSafeHeader(name: string, value: string): void {
  if (!isToken(name)) throw new TypeError(`Invalid header name ${JSON.stringify(printable(name))}`);
  if (!isSafeHeaderValue(value)) {
    throw new TypeError(`Invalid character (CR, LF, NUL or another control) in the value of header "${name}"`);
  }
}

/** Escapes a name for an error message so that even a hostile name prints as one harmless line. */
function printable(s: string): string {
  let out = '';
  for (let i = 0; i < s.length && i < 64; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f ? s[i] : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s.length > 64 ? `${out}…` : out;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function trimOws(s: string, start: number, end: number): string {
  while (start < end && isOws(s.charCodeAt(start))) start++;
  while (end > start && isOws(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

// Where the list element starting at `start` ends: its comma, or the end of `value`. A comma inside a
// quoted-string (with its backslash escapes) does not end it; an unterminated quote runs to the end.
function elementEnd(value: string, start: number): number {
  let inQuotes = false;
  for (let i = start; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuotes) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inQuotes = false;
    } else if (c === 0x22) {
      inQuotes = true;
    } else if (c === 0x2c /* , */) {
      return i;
    }
  }
  return value.length;
}

/**
 * Splits an RFC 7230 §7 comma-separated list into its elements, trimmed of optional whitespace, with
 * empty elements dropped (`a,,b` and `, a` are legal). Commas inside a quoted-string (with its
 * backslash escapes) do not split, so an extension parameter such as `x="a,b"` stays in one element.
 * An unterminated quote simply runs to the end of the value. One pass, no regular expressions.
 * An array (a header that node delivered per occurrence) is treated as the concatenation of its lists.
 */
export function parseList(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  if (typeof value !== 'string') {
    const all: string[] = [];
    for (const v of value) if (typeof v === 'string') all.push(...parseList(v));
    return all;
  }
  const out: string[] = [];
  for (let start = 0; start <= value.length; ) {
    const end = elementEnd(value, start);
    const element = trimOws(value, start, end);
    if (element !== '') out.push(element);
    start = end + 1;
  }
  return out;
}

/**
 * True when the comma list `value` has an element equal to `token`, ASCII case-insensitively — how
 * `Connection: keep-alive, Upgrade` and `Upgrade: WebSocket` must be read (RFC 6455 §4.2.1).
 */
export function listContainsToken(value: string | readonly string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'string') {
    for (const v of value) if (typeof v === 'string' && listContainsToken(v, token)) return true;
    return false;
  }
  // parseList's elements, compared in place.
  for (let start = 0; start <= value.length; ) {
    const end = elementEnd(value, start);
    let from = start;
    let to = end;
    while (from < to && isOws(value.charCodeAt(from))) from++;
    while (to > from && isOws(value.charCodeAt(to - 1))) to--;
    if (to > from && regionEqualsIgnoreAsciiCase(value, from, to, token)) return true;
    start = end + 1;
  }
  return false;
}

/**
 * True when any occurrence of list header `name` contains `token` (see {@link listContainsToken}). Reads
 * `rawHeaders` when node kept them: node builds `headers` lazily, and a handshake need not pay for it.
 */
export function headerHasToken(msg: HeaderSource, name: string, token: string): boolean {
  const raw = msg.rawHeaders;
  if (!Array.isArray(raw)) return listContainsToken(headerValue(msg.headers, name), token);
  for (let i = nextRawValue(raw, name, 0); i !== -1; i = nextRawValue(raw, name, i + 1)) {
    if (listContainsToken(raw[i], token)) return true;
  }
  return false;
}

// The index in `rawHeaders` of the next value of header `name` at or after `from` (a name's index + 1), or -1.
// Scanning in place keeps the handshake's header reads free of arrays and lower-cased copies.
function nextRawValue(raw: readonly unknown[], name: string, from: number): number {
  for (let i = from + ((from & 1) ^ 1); i < raw.length; i += 2) {
    const k = raw[i - 1];
    if (typeof k === 'string' && typeof raw[i] === 'string' && equalsIgnoreAsciiCase(k, name)) return i;
  }
  return -1;
}

/**
 * Reads a header of a parsed message as one string, whatever node made of it: undefined when absent,
 * an array (e.g. `set-cookie`) joined with ", " as RFC 7230 §3.2.2 allows for list headers.
 * Use it for list-valued headers only; single-valued ones go through {@link readSingleHeader}.
 */
export function headerValue(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const v: unknown = headers[asciiLower(name)];
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const parts = v.filter((x): x is string => typeof x === 'string');
    return parts.length > 0 ? parts.join(', ') : undefined;
  }
  return undefined;
}

/**
 * Every occurrence of header `name` in the order received, from `rawHeaders` when node kept them
 * (it silently drops duplicates of some headers, such as Host, and joins others, from `headers`), else
 * from `headers`.
 */
export function headerOccurrences(msg: HeaderSource, name: string): string[] {
  const raw = msg.rawHeaders;
  if (Array.isArray(raw)) {
    const out: string[] = [];
    for (let i = nextRawValue(raw, name, 0); i !== -1; i = nextRawValue(raw, name, i + 1)) out.push(raw[i] as string);
    return out;
  }
  const v: unknown = msg.headers[asciiLower(name)];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

/** The result of {@link readSingleHeader}. */
export type SingleHeader =
  | { readonly kind: 'absent' }
  | { readonly kind: 'duplicated'; readonly count: number }
  | { readonly kind: 'present'; readonly value: string };

const ABSENT: SingleHeader = Object.freeze({ kind: 'absent' });

/**
 * Reads a header that must appear at most once (Sec-WebSocket-Key, Sec-WebSocket-Accept, Host, Origin).
 * A duplicate is reported as such instead of being joined or dropped, because two keys or two hosts
 * are how request-smuggling and cache-poisoning ambiguities start. The value is trimmed of OWS.
 */
export function readSingleHeader(msg: HeaderSource, name: string): SingleHeader {
  const raw = msg.rawHeaders;
  let first: string;
  let count = 0;
  if (Array.isArray(raw)) {
    // headerOccurrences without its array: this runs several times per handshake.
    const at = nextRawValue(raw, name, 0);
    if (at === -1) return ABSENT;
    first = raw[at] as string;
    for (let i = at; i !== -1; i = nextRawValue(raw, name, i + 1)) count++;
  } else {
    const all = headerOccurrences(msg, name);
    if (all.length === 0) return ABSENT;
    first = all[0] as string;
    count = all.length;
  }
  if (count > 1) return { kind: 'duplicated', count };
  return { kind: 'present', value: trimOws(first, 0, first.length) };
}

/**
 * Looks up a header in an outgoing header object, ASCII case-insensitively (callers write
 * `'Sec-WebSocket-Protocol'` or `'sec-websocket-protocol'` at will). Only own properties count.
 * Returns the name as the caller spelled it, so it can be excluded when serializing.
 */
export function findOutgoingHeader(
  headers: http.OutgoingHttpHeaders | undefined,
  name: string,
): { name: string; value: http.OutgoingHttpHeader | undefined } | undefined {
  if (headers === undefined || headers === null) return undefined;
  for (const key of Object.keys(headers)) {
    if (equalsIgnoreAsciiCase(key, name)) return { name: key, value: headers[key] };
  }
  return undefined;
}

/**
 * Serializes outgoing headers to `Name: value\r\n` lines: arrays become repeated lines, numbers are
 * stringified, undefined values are skipped, and names in `skip` (lower-case) are left out.
 * Everything is validated BEFORE anything is returned, so a bad header means nothing is written at all:
 * throws a TypeError on a non-token name or a value with CR, LF, NUL or another control character.
 */
export function serializeHeaders(
  headers: http.OutgoingHttpHeaders | undefined,
  skip: ReadonlySet<string> = new Set<string>(),
): string {
  if (headers === undefined || headers === null) return '';
  let out = '';
  for (const name of Object.keys(headers)) {
    if (skip.has(asciiLower(name))) continue;
    const value: unknown = headers[name];
    if (value === undefined) continue;
    const values: unknown[] = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v !== 'string' && typeof v !== 'number') {
        throw new TypeError(`Invalid value type for header "${printable(name)}": ${typeof v}`);
      }
      const s = String(v);
      assertSafeHeader(name, s);
      out += `${name}: ${s}\r\n`;
    }
  }
  return out;
}
