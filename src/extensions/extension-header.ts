/**
 * Parser and formatter of the `Sec-WebSocket-Extensions` header (RFC 6455 §9.1, list and quoting rules of
 * RFC 7230 §3.2.6 and §7).
 *
 * The grammar is:
 *
 *     Sec-WebSocket-Extensions = 1#extension
 *     extension       = extension-token *( OWS ";" OWS extension-param )
 *     extension-param = token [ BWS "=" BWS ( token / quoted-string ) ]
 *
 * where a quoted value, once unescaped, must itself be a token (RFC 6455 §9.1). Empty list elements
 * (`a, , b`) are allowed, as RFC 7230 §7 asks of recipients.
 *
 * Safety notes, since this runs on attacker-controlled input before the connection exists:
 * - The tokenizer is a single forward pass over the string, one character at a time: its cost is linear in
 *   the header length whatever the input (no backtracking regular expression, cf. ws CVE-2021-32640).
 * - The result is made of arrays and fixed-shape objects, never of objects keyed by names taken from the
 *   input, so names such as `__proto__` or `constructor` are plain data (cf. ws 3.3.1).
 * - Malformed input yields `null` rather than an exception: callers decide whether that declines an offer
 *   (server) or fails the handshake (client).
 */

/** One `name[=value]` parameter of an extension. */
export interface ExtensionParam {
  /**
   * The parameter name, lower-cased. Parameter names of registered extensions are compared
   * case-insensitively (as HTTP parameters are), so they are normalised once, here.
   */
  readonly name: string;
  /** The value, unquoted and unescaped; `null` when the parameter has no value. */
  readonly value: string | null;
}

/** One element of the extension list: an extension name and its parameters in the order received. */
export interface ExtensionOffer {
  /** The extension name, lower-cased: extension tokens are matched case-insensitively. */
  readonly name: string;
  /**
   * Parameters in the order received, duplicates included: whether a duplicate is an error is the
   * extension's business (RFC 7692 §7 makes it one), so the parser keeps every occurrence.
   */
  readonly params: readonly ExtensionParam[];
}

// Character classes of RFC 7230 §3.2.6, as a lookup table over code units 0–127 (anything above is never a tchar).
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1; // DIGIT
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1; // upper-case ALPHA
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1; // lower-case ALPHA

const SP = 0x20;
const HTAB = 0x09;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/** True when `s` is a non-empty RFC 7230 token, i.e. can be written without quotes. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTchar(s.charCodeAt(i))) return false;
  return true;
}

/** ASCII-only lower-casing: `toLowerCase()` is locale-free but maps some non-ASCII letters; tokens are ASCII anyway. */
function asciiLower(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return s.toLowerCase();
  }
  return s;
}

/**
 * Parses a `Sec-WebSocket-Extensions` value (several header lines must be joined with commas first, as
 * RFC 7230 §3.2.2 allows). Returns the list of extensions in order, `[]` for an empty list, or `null` when
 * the value does not follow the grammar. Never throws, runs in time linear in `header.length`.
 */
export function parseExtensionHeader(header: string): ExtensionOffer[] | null {
  const n = header.length;
  let i = 0;
  const out: ExtensionOffer[] = [];

  const skipOws = (): void => {
    while (i < n) {
      const c = header.charCodeAt(i);
      if (c !== SP && c !== HTAB) break;
      i++;
    }
  };
  const readToken = (): string | null => {
    const start = i;
    while (i < n && isTchar(header.charCodeAt(i))) i++;
    return i === start ? null : header.slice(start, i);
  };
  // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE; called with `i` on the opening quote.
  const readQuoted = (): string | null => {
    i++;
    let value = '';
    let start = i;
    while (i < n) {
      const c = header.charCodeAt(i);
      if (c === DQUOTE) {
        value += header.slice(start, i);
        i++;
        return value;
      }
      if (c === BACKSLASH) {
        // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
        if (i + 1 >= n) return null;
        const e = header.charCodeAt(i + 1);
        if (!(e === HTAB || (e >= 0x20 && e !== 0x7f && e <= 0xff))) return null;
        value += header.slice(start, i);
        start = i + 1; // keep the escaped character itself
        i += 2;
        continue;
      }
      // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
      if (!(c === HTAB || (c >= 0x20 && c !== 0x7f && c <= 0xff))) return null;
      i++;
    }
    return null; // unterminated
  };

  for (;;) {
    skipOws();
    if (i >= n) break;
    if (header.charCodeAt(i) === COMMA) {
      i++; // empty list element
      continue;
    }
    const name = readToken();
    if (name === null) return null;
    const params: ExtensionParam[] = [];
    for (;;) {
      skipOws();
      if (i >= n || header.charCodeAt(i) === COMMA) break;
      if (header.charCodeAt(i) !== SEMICOLON) return null;
      i++;
      skipOws();
      const pname = readToken();
      if (pname === null) return null;
      skipOws();
      let value: string | null = null;
      if (i < n && header.charCodeAt(i) === EQUALS) {
        i++;
        skipOws();
        if (i < n && header.charCodeAt(i) === DQUOTE) {
          value = readQuoted();
          // RFC 6455 §9.1: the unescaped value of a quoted-string must conform to `token`.
          if (value === null || !isToken(value)) return null;
        } else {
          value = readToken();
          if (value === null) return null;
        }
      }
      params.push({ name: asciiLower(pname), value });
    }
    out.push({ name: asciiLower(name), params });
    // The inner loop stopped at the end or on a comma; the outer loop consumes the comma.
    if (i < n) i++;
  }
  return out;
}

/** Writes a parameter value as a token when it can, as a quoted-string otherwise. */
function formatValue(value: string): string {
  if (isToken(value)) return value;
  let q = '"';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    const c = value.charCodeAt(i);
    if (c === DQUOTE || c === BACKSLASH) q += '\\' + ch;
    else if (c === HTAB || (c >= 0x20 && c !== 0x7f && c <= 0xff)) q += ch;
    else throw new TypeError(`Extension parameter values cannot contain the character U+${c.toString(16).padStart(4, '0')}`);
  }
  return q + '"';
}

/**
 * Formats one extension element (`name; a; b=1`), the inverse of {@link parseExtensionHeader} for one element.
 * Join several with `', '`. Throws a TypeError when a name is not a token: that is a programming error, not
 * something input can cause.
 */
export function formatExtension(name: string, params: readonly ExtensionParam[] = []): string {
  if (!isToken(name)) throw new TypeError(`Invalid extension name: ${JSON.stringify(name)}`);
  let s = name;
  for (const p of params) {
    if (!isToken(p.name)) throw new TypeError(`Invalid extension parameter name: ${JSON.stringify(p.name)}`);
    s += p.value === null ? `; ${p.name}` : `; ${p.name}=${formatValue(p.value)}`;
  }
  return s;
}
