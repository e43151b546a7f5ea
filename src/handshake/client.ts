// The client side of the opening handshake (RFC 6455 §4.1), modelled on gorilla/websocket's Dialer. The
// byte stream under it comes from the transport seam (src/transport/transport.ts): direct, Unix socket,
// proxy tunnel or a custom createConnection; the HTTP/1.1 upgrade below runs the same over all of them.
import * as http from 'http';
import type * as http2 from 'http2';
import * as net from 'net';
import type * as stream from 'stream';
import { DEFAULT_MAX_PAYLOAD } from '../codec/frame-parser';
import { HandshakeError } from '../errors';
import {
  PerMessageDeflate,
  acceptClientResponse,
  buildClientOffer,
  validatePerMessageDeflateOptions,
  type DeflateParams,
  type PerMessageDeflateOptions,
} from '../extensions/permessage-deflate';
import { WebSocket, type WebSocketOptions } from '../connection/websocket';
import { connectHttp2 } from '../http2/client';
import { proxyFromEnvironment } from '../transport/proxy-env';
import { parseProxyUrl, type ProxyConfig } from '../transport/proxy-url';
import {
  adoptTransport,
  openTransport,
  pickTlsOptions,
  type ConnectTlsOptions,
  type CreateConnection,
  type TransportPlan,
} from '../transport/transport';
import { computeAcceptKey, generateKey } from './accept';
import {
  asciiLower,
  assertSafeHeader,
  createHeaderMap,
  equalsIgnoreAsciiCase,
  headerOccurrences,
  headerValue,
  isToken,
  listContainsToken,
  parseList,
  readSingleHeader,
  type HeaderMap,
  type HeaderSource,
} from './headers';

export type { ConnectTlsOptions, CreateConnection, TransportOptions } from '../transport/transport';

/** Default {@link ConnectOptions.handshakeTimeout}: a dead or black-holed server must not hang the caller forever. */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;

/** Default {@link ConnectOptions.maxRedirects}. */
export const DEFAULT_MAX_REDIRECTS = 10;

/** Upper bound of {@link ConnectOptions.maxRedirects}: beyond it a client is being played with. */
const MAX_REDIRECTS_LIMIT = 100;

/**
 * Where `connect()` takes its proxy from: a URL (`http:`, `https:`, `socks5:`, `socks5h:`, `socks4:`,
 * `socks4a:`), `false` for none, or a function of the target returning a URL or `null` (no proxy).
 */
export type ProxyOption = string | URL | false | ((target: URL) => string | URL | null);

/** Options of {@link connect}. */
export interface ConnectOptions extends ConnectTlsOptions {
  /** Subprotocols to offer, in order of preference; each an RFC 7230 token, no duplicates. */
  protocols?: string[];
  /**
   * Extra request headers (cookies, authorization…). They may not set the handshake's own headers
   * (Upgrade, Connection, Sec-WebSocket-*); `Host` may be overridden. CR, LF or NUL in one is a TypeError.
   */
  headers?: Record<string, string>;
  /** The Origin header to send, as a browser would; none by default. Takes precedence over `headers`. */
  origin?: string;
  /**
   * Milliseconds for the whole handshake — DNS, TCP, the proxy, TLS, redirects, request and the 101
   * answer. Default 10 000; 0 disables it (then only `signal` can end a hung attempt).
   */
  handshakeTimeout?: number;
  /** Offer permessage-deflate (RFC 7692): `true` for the defaults, or its options. Off by default. */
  compression?: boolean | PerMessageDeflateOptions;
  /** Largest message accepted, in bytes (whole messages, after decompression). Default 64 MiB. */
  maxPayload?: number;
  /** Aborts the attempt: the promise rejects with an `AbortError` and the socket is destroyed. */
  signal?: AbortSignal;
  /** Passed to the connection: see {@link WebSocketOptions.keepAlive}. */
  keepAlive?: WebSocketOptions['keepAlive'];
  /** Passed to the connection: see {@link WebSocketOptions.closeTimeout}. */
  closeTimeout?: number;
  /** Passed to the connection: see {@link WebSocketOptions.maxBufferedAmount}. */
  maxBufferedAmount?: number;
  /**
   * The proxy: by default the environment's (`wss_proxy`/`ws_proxy`, then `https_proxy` for wss: or
   * `http_proxy` for ws:, then `all_proxy`, lowercase first; `no_proxy` exempts hosts). A URL, `false`
   * for none, or a function of the target URL. Always a CONNECT tunnel (or SOCKS), for ws: too.
   */
  proxy?: ProxyOption;
  /** Extra headers of the CONNECT request (not sent to the server); `Proxy-Authorization` may be set here. */
  proxyHeaders?: Record<string, string>;
  /** TLS settings for an `https:` proxy (the options above are for the server). Node's defaults otherwise. */
  proxyTls?: ConnectTlsOptions;
  /** Follow 301, 302, 303, 307 and 308 answers to the upgrade request. Default false. */
  followRedirects?: boolean;
  /** Most redirects followed (0…100). Default 10. */
  maxRedirects?: number;
  /** Connect to this Unix socket instead of the URL's host (which still goes in `Host`). */
  socketPath?: string;
  /** A custom transport: the Duplex the handshake is written to. Replaces TCP, TLS, proxies and Unix sockets. */
  createConnection?: CreateConnection;
  /**
   * WebSockets over HTTP/2 (RFC 8441). `true`: for `wss://`, offer `h2` and `http/1.1` by ALPN and, when
   * the server's SETTINGS allow extended CONNECT, open the WebSocket as a stream of a session shared by
   * every WebSocket to the same origin (it closes after its last stream); otherwise fall back to the
   * HTTP/1.1 upgrade on a fresh connection (`ws://`, a proxy, a Unix socket or `createConnection` always
   * do). A `ClientHttp2Session` (h2c, or one set up by hand) is used as is and never closed; it must allow
   * extended CONNECT. Default: HTTP/1.1.
   */
  http2?: boolean | http2.ClientHttp2Session;
}

/** Request headers the handshake owns; user headers may not set them. */
const RESERVED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
]);

/** Statuses of the upgrade request that `followRedirects` follows. */
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

function ignoreError(): void {
  /* errors after the attempt has settled have nobody left to tell */
}

function abortError(signal: AbortSignal): DOMException {
  const reason: unknown = signal.reason;
  if (reason instanceof DOMException && reason.name === 'AbortError') return reason;
  return new DOMException('The WebSocket connection attempt was aborted', { name: 'AbortError', cause: reason });
}

/** @internal What {@link parseTarget} makes of the URL: where to connect and what to put in the request line. */
export interface Target {
  /** The URL as ws:/wss: (ws+unix: and wss+unix: kept as they are), without credentials. */
  url: URL;
  secure: boolean;
  hostname: string;
  port: number;
  path: string;
  host: string;
  authorization: string | undefined;
  /** The Unix socket, from a ws+unix: URL or the `socketPath` option. */
  socketPath: string | undefined;
}

function urlText(url: unknown): string {
  const text =
    typeof url === 'string'
      ? url
      : typeof url === 'object' && url !== null && typeof (url as { href?: unknown }).href === 'string'
        ? (url as { href: string }).href
        : undefined;
  if (text === undefined) throw new TypeError('url must be a string or a URL');
  return text;
}

/**
 * Parses and checks a WebSocket URL (RFC 6455 §3): `ws:` or `wss:` (`http:`/`https:` accepted as
 * aliases, as browsers do), `ws+unix:///socket/path:/request/path` (ws's convention; `wss+unix:` for TLS
 * over the socket), and no fragment — not even an empty one.
 */
function parseTarget(url: string | URL): Target {
  const text = urlText(url);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new TypeError(`Invalid URL: ${JSON.stringify(text)}`);
  }
  let secure: boolean;
  let unix = false;
  switch (u.protocol) {
    case 'ws:':
    case 'http:':
      secure = false;
      break;
    case 'wss:':
    case 'https:':
      secure = true;
      break;
    case 'ws+unix:':
    case 'wss+unix:':
      secure = u.protocol === 'wss+unix:';
      unix = true;
      break;
    default:
      throw new TypeError(`Unsupported URL scheme ${JSON.stringify(u.protocol)}: use ws:, wss: or ws+unix:`);
  }
  if (u.hash !== '' || text.includes('#')) {
    throw new TypeError('A WebSocket URL must not contain a fragment (RFC 6455 §3)');
  }
  if (unix) {
    // ws+unix:///tmp/app.sock:/chat?room=1 — the socket path, a colon, the request path.
    if (u.host !== '') throw new TypeError('A ws+unix: URL has no host: ws+unix:///path/to/socket:/request/path');
    const pathname = decodeURIComponent(u.pathname);
    const colon = pathname.indexOf(':');
    const socketPath = colon === -1 ? pathname : pathname.slice(0, colon);
    const requestPath = colon === -1 ? '/' : pathname.slice(colon + 1) || '/';
    if (socketPath === '' || socketPath === '/') throw new TypeError('The ws+unix: URL names no socket path');
    if (!requestPath.startsWith('/')) throw new TypeError('The request path of a ws+unix: URL must start with "/"');
    return { url: u, secure, hostname: 'localhost', port: secure ? 443 : 80, path: requestPath + u.search, host: 'localhost', authorization: undefined, socketPath };
  }
  if (u.hostname === '') throw new TypeError('The URL has no host');
  const hostname = u.hostname.startsWith('[') && u.hostname.endsWith(']') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port !== '' ? Number(u.port) : secure ? 443 : 80;
  let authorization: string | undefined;
  if (u.username !== '' || u.password !== '') {
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  }
  const clean = new URL(u.href);
  clean.protocol = secure ? 'wss:' : 'ws:';
  clean.username = '';
  clean.password = '';
  // u.host keeps IPv6 brackets and leaves out the scheme's default port, as Host must (RFC 7230 §5.4).
  return { url: clean, secure, hostname, port, path: (u.pathname || '/') + u.search, host: u.host, authorization, socketPath: undefined };
}

/** Checks the subprotocol list as the browser WebSocket API does: tokens only, each once. */
function checkProtocols(protocols: unknown): string[] {
  if (protocols === undefined) return [];
  if (!Array.isArray(protocols)) throw new TypeError('protocols must be an array of strings');
  const seen = new Set<string>();
  for (const p of protocols) {
    if (typeof p !== 'string' || !isToken(p)) {
      throw new SyntaxError(`Invalid subprotocol ${JSON.stringify(p)}: subprotocols must be RFC 7230 tokens`);
    }
    if (seen.has(p)) throw new SyntaxError(`Duplicated subprotocol ${JSON.stringify(p)}`);
    seen.add(p);
  }
  return [...seen];
}

/** Checks the caller's extra headers: strings, no CR/LF/NUL, none of the handshake's own, none twice. */
function checkUserHeaders(user: unknown, origin: string | undefined): Record<string, string> {
  if (user === undefined) return {};
  if (typeof user !== 'object' || user === null) throw new TypeError('headers must be an object');
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const name of Object.keys(user)) {
    const value: unknown = (user as Record<string, unknown>)[name];
    if (typeof value !== 'string') throw new TypeError(`The value of header "${name}" must be a string`);
    assertSafeHeader(name, value);
    const lower = asciiLower(name);
    if (RESERVED_REQUEST_HEADERS.has(lower)) {
      throw new TypeError(
        `Header "${name}" is set by the handshake itself` +
          (lower === 'sec-websocket-protocol' ? ': use the protocols option' : lower === 'sec-websocket-extensions' ? ': use the compression option' : ''),
      );
    }
    if (lower === 'origin' && origin !== undefined) continue;
    if (seen.has(lower)) throw new TypeError(`Header "${name}" is given twice`);
    seen.add(lower);
    out[name] = value;
  }
  return out;
}

/** Checks `proxyHeaders`: strings, no CR/LF/NUL, not `Host` (the CONNECT request's own). */
function checkProxyHeaders(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw new TypeError('proxyHeaders must be an object');
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const name of Object.keys(value)) {
    const v: unknown = (value as Record<string, unknown>)[name];
    if (typeof v !== 'string') throw new TypeError(`The value of proxy header "${name}" must be a string`);
    assertSafeHeader(name, v);
    const lower = asciiLower(name);
    if (lower === 'host') throw new TypeError('proxyHeaders may not set Host: it is the tunnel target');
    if (seen.has(lower)) throw new TypeError(`Proxy header "${name}" is given twice`);
    seen.add(lower);
    out[name] = v;
  }
  return out;
}

/**
 * Builds the request headers: the caller's (already checked, spelled as given), then the handshake's
 * own in their conventional spelling — names are case-insensitive, but not every server out there knows it.
 */
function buildHeaders(
  target: Target,
  user: Readonly<Record<string, string>>,
  origin: string | undefined,
  key: string,
  protocols: readonly string[],
  offer: string | undefined,
): HeaderMap {
  const headers = createHeaderMap();
  let userHost = false;
  let userAuthorization = false;
  for (const name of Object.keys(user)) {
    const lower = asciiLower(name);
    if (lower === 'host') userHost = true;
    if (lower === 'authorization') userAuthorization = true;
    headers[name] = user[name] as string;
  }
  if (!userHost) headers['Host'] = target.host;
  if (!userAuthorization && target.authorization !== undefined) headers['Authorization'] = target.authorization;
  if (origin !== undefined) headers['Origin'] = origin;
  headers['Upgrade'] = 'websocket';
  headers['Connection'] = 'Upgrade';
  headers['Sec-WebSocket-Key'] = key;
  headers['Sec-WebSocket-Version'] = '13';
  if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = protocols.join(', ');
  if (offer !== undefined) {
    assertSafeHeader('Sec-WebSocket-Extensions', offer);
    headers['Sec-WebSocket-Extensions'] = offer;
  }
  return headers;
}

/** @internal What the server agreed to, once its answer has been checked. */
export interface Agreement {
  protocol: string;
  extensions: string;
  deflateParams: DeflateParams | null;
}

/** A name fit to quote in an error message: a token, or nothing. */
function quoteName(name: string): string {
  return isToken(name) ? `"${name}"` : '(an invalid name)';
}

/**
 * Checks the server's 101 answer against RFC 6455 §4.1 (the client's "MUST _Fail the WebSocket
 * Connection_" list). Throws a HandshakeError(101) naming the first problem.
 */
function checkServerAnswer(
  res: http.IncomingMessage,
  key: string,
  offered: readonly string[],
  compression: PerMessageDeflateOptions | null,
): Agreement {
  const status = res.statusCode ?? 0;
  if (status !== 101) throw new HandshakeError(status, `Unexpected server response: ${status}`);
  if (!listContainsToken(headerValue(res.headers, 'upgrade'), 'websocket')) {
    throw new HandshakeError(101, "Invalid server answer: the Upgrade header is missing or is not 'websocket'");
  }
  if (!listContainsToken(headerValue(res.headers, 'connection'), 'upgrade')) {
    throw new HandshakeError(101, "Invalid server answer: 'upgrade' token not found in the Connection header");
  }
  const accept = readSingleHeader(res, 'sec-websocket-accept');
  if (accept.kind === 'absent') throw new HandshakeError(101, 'Invalid server answer: missing Sec-WebSocket-Accept header');
  if (accept.kind === 'duplicated') throw new HandshakeError(101, 'Invalid server answer: duplicated Sec-WebSocket-Accept header');
  if (accept.value !== computeAcceptKey(key)) {
    throw new HandshakeError(101, 'Invalid server answer: Sec-WebSocket-Accept does not match the key sent');
  }

  return checkAgreement(res, offered, compression);
}

/**
 * @internal The negotiation half of the server's answer, the same on HTTP/1.1 and HTTP/2: the
 * subprotocol must be one offered, the extension the permessage-deflate offered, with parameters we accept.
 */
export function checkAgreement(
  res: HeaderSource,
  offered: readonly string[],
  compression: PerMessageDeflateOptions | null,
): Agreement {
  let protocol = '';
  const protocolLines = headerOccurrences(res, 'sec-websocket-protocol');
  if (protocolLines.length > 0) {
    const chosen = parseList(protocolLines);
    if (offered.length === 0) {
      throw new HandshakeError(101, 'Invalid server answer: the server chose a subprotocol but none was offered');
    }
    const only = chosen[0];
    if (chosen.length !== 1 || only === undefined || !isToken(only)) {
      throw new HandshakeError(101, 'Invalid server answer: Sec-WebSocket-Protocol must name exactly one subprotocol');
    }
    if (!offered.includes(only)) {
      throw new HandshakeError(101, `Invalid server answer: the server chose subprotocol ${quoteName(only)}, which was not offered`);
    }
    protocol = only;
  }

  let extensions = '';
  let deflateParams: DeflateParams | null = null;
  const extensionLines = headerOccurrences(res, 'sec-websocket-extensions');
  if (extensionLines.length > 0) {
    const accepted = parseList(extensionLines);
    if (compression === null) {
      throw new HandshakeError(101, 'Invalid server answer: the server accepted an extension but none was offered');
    }
    if (accepted.length !== 1) {
      throw new HandshakeError(
        101,
        accepted.length === 0
          ? 'Invalid server answer: empty Sec-WebSocket-Extensions header'
          : 'Invalid server answer: the server accepted more extensions than were offered',
      );
    }
    const element = accepted[0] as string;
    const semicolon = element.indexOf(';');
    const name = (semicolon === -1 ? element : element.slice(0, semicolon)).trim();
    if (!equalsIgnoreAsciiCase(name, 'permessage-deflate')) {
      throw new HandshakeError(101, `Invalid server answer: the server accepted extension ${quoteName(name)}, which was not offered`);
    }
    try {
      deflateParams = acceptClientResponse(element, compression);
    } catch (e) {
      if (e instanceof HandshakeError) throw e;
      throw new HandshakeError(101, `Invalid server answer: unacceptable permessage-deflate parameters: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e });
    }
    extensions = element;
  }
  return { protocol, extensions, deflateParams };
}

/** The options of one `connect()` call, checked once before any I/O. */
interface Prepared {
  protocols: string[];
  compression: PerMessageDeflateOptions | null;
  offer: string | undefined;
  timeout: number;
  maxPayload: number;
  userHeaders: Record<string, string>;
  origin: string | undefined;
  followRedirects: boolean;
  maxRedirects: number;
  proxy: ProxyOption | undefined;
  /** `proxy` parsed, when it is a URL. */
  fixedProxy: ProxyConfig | null;
  proxyHeaders: Record<string, string>;
  tls: ConnectTlsOptions;
  proxyTls: ConnectTlsOptions;
  createConnection: CreateConnection | undefined;
  opts: ConnectOptions;
}

function prepare(opts: ConnectOptions, first: Target): Prepared {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('options must be an object');
  const protocols = checkProtocols(opts.protocols);
  const compression = opts.compression === true ? {} : opts.compression ? { ...opts.compression } : null;
  if (compression !== null) validatePerMessageDeflateOptions(compression);
  const timeout = opts.handshakeTimeout ?? DEFAULT_CONNECT_TIMEOUT;
  if (typeof timeout !== 'number' || !(timeout >= 0) || timeout > 0x7fffffff) {
    throw new RangeError(`handshakeTimeout must be a number of milliseconds between 0 and 2^31-1, got ${String(timeout)}`);
  }
  const maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  if (typeof maxPayload !== 'number' || !Number.isSafeInteger(maxPayload) || maxPayload < 0) {
    throw new RangeError(`maxPayload must be a non-negative integer, got ${String(maxPayload)}`);
  }
  const origin = opts.origin;
  if (origin !== undefined) {
    if (typeof origin !== 'string') throw new TypeError('origin must be a string');
    assertSafeHeader('Origin', origin);
  }
  const userHeaders = checkUserHeaders(opts.headers, origin);
  const followRedirects = opts.followRedirects ?? false;
  if (typeof followRedirects !== 'boolean') throw new TypeError('followRedirects must be a boolean');
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  if (typeof maxRedirects !== 'number' || !Number.isInteger(maxRedirects) || maxRedirects < 0 || maxRedirects > MAX_REDIRECTS_LIMIT) {
    throw new RangeError(`maxRedirects must be an integer from 0 to ${MAX_REDIRECTS_LIMIT}, got ${String(maxRedirects)}`);
  }
  const socketPath = opts.socketPath;
  if (socketPath !== undefined) {
    if (typeof socketPath !== 'string' || socketPath === '' || socketPath.includes('\0')) {
      throw new TypeError('socketPath must be a non-empty path without NUL');
    }
    if (first.socketPath !== undefined) throw new TypeError('socketPath and a ws+unix: URL both name a socket: give one');
    first.socketPath = socketPath;
  }
  const createConnection = opts.createConnection;
  if (createConnection !== undefined && typeof createConnection !== 'function') throw new TypeError('createConnection must be a function');
  const proxy = opts.proxy;
  let fixedProxy: ProxyConfig | null = null;
  if (proxy !== undefined && proxy !== false) {
    if (typeof proxy === 'string' || proxy instanceof URL) fixedProxy = parseProxyUrl(proxy);
    else if (typeof proxy !== 'function') throw new TypeError('proxy must be a URL, false or a function');
    if (first.socketPath !== undefined) throw new TypeError('A Unix socket is reached directly: do not give a proxy with it');
    if (createConnection !== undefined) throw new TypeError('createConnection replaces the transport: do not give a proxy with it');
  }
  const proxyTls = opts.proxyTls;
  if (proxyTls !== undefined && (typeof proxyTls !== 'object' || proxyTls === null)) throw new TypeError('proxyTls must be an object');
  return {
    protocols,
    compression,
    offer: compression !== null ? buildClientOffer(compression) : undefined,
    timeout,
    maxPayload,
    userHeaders,
    origin,
    followRedirects,
    maxRedirects,
    proxy,
    fixedProxy,
    proxyHeaders: checkProxyHeaders(opts.proxyHeaders),
    tls: pickTlsOptions(opts),
    proxyTls: proxyTls === undefined ? {} : pickTlsOptions(proxyTls),
    createConnection,
    opts,
  };
}

/** The proxy for one target: none for Unix sockets and custom transports, else the option or the environment's. */
function resolveProxy(target: Target, p: Prepared): ProxyConfig | null {
  if (target.socketPath !== undefined || p.createConnection !== undefined || p.proxy === false) return null;
  if (p.fixedProxy !== null) return p.fixedProxy;
  if (typeof p.proxy === 'function') {
    const chosen: unknown = p.proxy(new URL(target.url.href));
    if (chosen === null || chosen === undefined || chosen === false) return null;
    return parseProxyUrl(chosen as string | URL);
  }
  const fromEnv = proxyFromEnvironment(target.secure, target.hostname, target.port);
  if (fromEnv === undefined) return null;
  try {
    return parseProxyUrl(fromEnv);
  } catch (e) {
    throw new TypeError(`The proxy set in the environment is unusable: ${(e as Error).message}`);
  }
}

function planFor(target: Target, p: Prepared): TransportPlan {
  return {
    secure: target.secure,
    hostname: target.hostname,
    port: target.port,
    socketPath: target.socketPath,
    proxy: resolveProxy(target, p),
    proxyHeaders: p.proxyHeaders,
    tls: p.tls,
    proxyTls: p.proxyTls,
    createConnection: p.createConnection,
  };
}

/** A redirect answer to the upgrade request. */
interface Redirect {
  status: number;
  location: string | undefined;
}

/** The identity of a target for loop detection. */
function targetKey(t: Target): string {
  return t.socketPath !== undefined ? `${t.secure ? 'wss' : 'ws'}+unix:${t.socketPath}:${t.path}` : t.url.href;
}

function sameOrigin(a: Target, b: Target): boolean {
  return a.secure === b.secure && a.port === b.port && a.hostname.toLowerCase() === b.hostname.toLowerCase() && a.socketPath === b.socketPath;
}

/**
 * Where a redirect leads, or a HandshakeError: no Location, a scheme that is not ws/wss/http/https,
 * wss: to ws: (it would drop TLS), onto a Unix socket, or off one (only a path on the same socket is allowed).
 */
function redirectTarget(current: Target, r: Redirect): Target {
  const { status, location } = r;
  if (location === undefined || location === '') throw new HandshakeError(status, `Redirect ${status} without a Location header`);
  if (current.socketPath !== undefined) {
    if (!location.startsWith('/') || location.startsWith('//')) {
      throw new HandshakeError(status, `Refusing redirect ${status}: a redirect cannot move off a Unix socket (only to another path on it)`);
    }
    const rel = new URL(location, 'ws://localhost');
    return { ...current, path: rel.pathname + rel.search };
  }
  let next: URL;
  try {
    next = new URL(location, current.url);
  } catch {
    throw new HandshakeError(status, `Redirect ${status} to an invalid Location`);
  }
  if (next.protocol === 'ws+unix:' || next.protocol === 'wss+unix:') {
    throw new HandshakeError(status, `Refusing redirect ${status}: a redirect cannot move onto a Unix socket`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(next.protocol)) {
    throw new HandshakeError(status, `Refusing redirect ${status} to the ${next.protocol} scheme`);
  }
  next.hash = '';
  let target: Target;
  try {
    target = parseTarget(next.href);
  } catch (e) {
    throw new HandshakeError(status, `Redirect ${status} to an unusable Location: ${(e as Error).message}`, {}, { cause: e });
  }
  if (current.secure && !target.secure) {
    throw new HandshakeError(status, `Refusing redirect ${status} from wss: to ws: (it would drop TLS)`);
  }
  return target;
}

/** The user's headers minus those that carry credentials or name the old origin. */
function withoutCredentials(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    const lower = asciiLower(name);
    if (lower !== 'authorization' && lower !== 'cookie' && lower !== 'host') out[name] = headers[name] as string;
  }
  return out;
}

/**
 * Runs the HTTP/1.1 upgrade over `socket` (whatever the transport made) and resolves with the connection,
 * or with a redirect when `followRedirects` is on and the server answered one.
 */
function upgradeOver(
  socket: stream.Duplex,
  target: Target,
  headers: HeaderMap,
  key: string,
  p: Prepared,
  signal: AbortSignal,
): Promise<WebSocket | Redirect> {
  return new Promise<WebSocket | Redirect>((resolve, reject) => {
    let settled = false;
    let req: http.ClientRequest;
    try {
      req = http.request({ createConnection: () => socket, method: 'GET', path: target.path, headers });
    } catch (e) {
      socket.destroy();
      reject(e);
      return;
    }
    // Permanent: destroying an unanswered request emits 'socket hang up', which must not crash anyone.
    req.on('error', ignoreError);
    const { compression, protocols } = p;

    const cleanup = (): void => {
      signal.removeEventListener('abort', onAbort);
      req.removeListener('error', onError);
      req.removeListener('response', onResponse);
      req.removeListener('upgrade', onUpgrade);
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      cleanup();
      req.destroy();
      socket.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(signal.reason);
    const onError = (err: Error): void => fail(err);
    const onResponse = (res: http.IncomingMessage): void => {
      const status = res.statusCode ?? 0;
      res.on('error', ignoreError);
      res.resume();
      if (p.followRedirects && REDIRECT_STATUSES.has(status) && !settled) {
        settled = true;
        cleanup();
        const location = headerValue(res.headers, 'location');
        res.destroy();
        req.destroy();
        socket.destroy();
        resolve({ status, location });
        return;
      }
      let err: unknown = new HandshakeError(status, `Unexpected server response: ${status}`);
      if (status === 101) {
        // Node did not see an upgrade (no Upgrade header, or no `upgrade` token in Connection): name the fault.
        err = new HandshakeError(101, 'Invalid server answer: 101 Switching Protocols that does not upgrade the connection');
        try {
          checkServerAnswer(res, key, protocols, compression);
        } catch (e) {
          err = e;
        }
      }
      fail(err);
      res.destroy();
    };
    const onUpgrade = (res: http.IncomingMessage, upgraded: stream.Duplex, head: Buffer): void => {
      upgraded.on('error', ignoreError);
      if (settled) {
        upgraded.destroy();
        return;
      }
      settled = true;
      cleanup();
      let deflate: PerMessageDeflate | null = null;
      try {
        const agreed = checkServerAnswer(res, key, protocols, compression);
        if (agreed.deflateParams !== null && compression !== null) {
          deflate = new PerMessageDeflate(agreed.deflateParams, compression, false);
        }
        if (upgraded instanceof net.Socket) {
          upgraded.setTimeout(0);
          // A Unix socket has no Nagle to turn off.
          if (target.socketPath === undefined) upgraded.setNoDelay(true);
        }
        upgraded.removeListener('error', ignoreError);
        const ws = new WebSocket(upgraded, head, {
          isServer: false,
          protocol: agreed.protocol,
          extensions: agreed.extensions,
          maxPayload: p.maxPayload,
          deflate,
          keepAlive: p.opts.keepAlive,
          closeTimeout: p.opts.closeTimeout,
          maxBufferedAmount: p.opts.maxBufferedAmount,
        });
        resolve(ws);
      } catch (e) {
        if (deflate !== null) {
          try {
            deflate.close();
          } catch {
            /* freeing zlib must not mask the handshake error */
          }
        }
        upgraded.on('error', ignoreError);
        upgraded.destroy();
        reject(e);
      }
    };

    req.on('error', onError);
    req.on('response', onResponse);
    req.on('upgrade', onUpgrade);
    signal.addEventListener('abort', onAbort, { once: true });
    const early = adoptTransport(socket);
    if (early !== undefined) fail(early);
    else if (signal.aborted) onAbort();
    else req.end();
  });
}

/** The hops of one `connect()`: transport, upgrade, and again for each redirect followed. */
async function run(first: Target, firstPlan: TransportPlan, p: Prepared, signal: AbortSignal): Promise<WebSocket> {
  let target = first;
  let plan = firstPlan;
  let userHeaders = p.userHeaders;
  const visited = new Set<string>([targetKey(first)]);
  for (let redirects = 0; ; redirects++) {
    const key = generateKey();
    const headers = buildHeaders(target, userHeaders, p.origin, key, p.protocols, p.offer);
    const socket = await openTransport(plan, signal);
    const result = await upgradeOver(socket, target, headers, key, p, signal);
    if (result instanceof WebSocket) return result;
    if (redirects >= p.maxRedirects) {
      throw new HandshakeError(result.status, `Too many redirects: the limit (maxRedirects) is ${p.maxRedirects}`);
    }
    const next = redirectTarget(target, result);
    const nextKey = targetKey(next);
    if (visited.has(nextKey)) throw new HandshakeError(result.status, `Redirect loop: ${nextKey} was already visited`);
    visited.add(nextKey);
    if (sameOrigin(target, next)) {
      if (next.authorization === undefined) next.authorization = target.authorization;
    } else {
      // Credentials meant for one origin are not handed to another (RFC 9110 §15.4).
      userHeaders = withoutCredentials(userHeaders);
    }
    target = next;
    plan = planFor(target, p);
  }
}

/**
 * Opens a WebSocket connection to `url` (`ws://`, `wss://`, `ws+unix:///socket:/path`) and resolves
 * once the opening handshake has succeeded. The socket under it comes from the transport seam: direct,
 * a Unix socket, a proxy tunnel (the `proxy` option or the environment), or `createConnection`. It
 * rejects — never hangs — with:
 * - a TypeError, SyntaxError or RangeError for a bad URL or bad options, before anything is sent;
 * - the network error (DNS, connection refused, TLS) as node reports it;
 * - a {@link ProxyError} (a HandshakeError) when the proxy refused, could not be reached or misbehaved;
 * - a {@link HandshakeError} whose `status` is the server's status when it did not answer 101
 *   (`Unexpected server response: 403`), 101 when its 101 answer was invalid, 0 on timeout, or the
 *   redirect's status when a redirect could not be followed;
 * - an `AbortError` (a DOMException) when `signal` aborts.
 *
 * Each call uses its own socket (no Agent pooling: a WebSocket owns its connection for its lifetime).
 */
export function connect(url: string | URL, opts: ConnectOptions = {}): Promise<WebSocket> {
  let first: Target;
  let p: Prepared;
  let plan: TransportPlan;
  try {
    first = parseTarget(url);
    p = prepare(opts, first);
    plan = planFor(first, p);
  } catch (e) {
    return Promise.reject(e);
  }
  const signal = opts.signal;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  // ---- RFC 8441: a stream of a shared HTTP/2 session when the server allows it (src/http2/client.ts).
  // A proxy tunnel, a Unix socket or a custom transport carries one HTTP/1.1 upgrade: the path below.
  if (opts.http2 !== undefined && opts.http2 !== false && p.createConnection === undefined && first.socketPath === undefined) {
    let headers: HeaderMap | null;
    try {
      headers = resolveProxy(first, p) === null ? buildHeaders(first, p.userHeaders, p.origin, '', p.protocols, p.offer) : null;
    } catch (e) {
      return Promise.reject(e);
    }
    if (headers !== null) {
      const agree = (res: HeaderSource): Agreement => checkAgreement(res, p.protocols, p.compression);
      const fallback = (): Promise<WebSocket> => connect(url, { ...opts, http2: false });
      return connectHttp2({ target: first, headers, compression: p.compression, timeout: p.timeout, maxPayload: p.maxPayload, opts, agree, fallback });
    }
  }
  // ---- end of RFC 8441.
  // One signal for the whole attempt, whichever hop it is at: the caller's abort or the timeout.
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(abortError(signal as AbortSignal));
  signal?.addEventListener('abort', onAbort, { once: true });
  const timeout = p.timeout;
  const timer =
    timeout > 0
      ? setTimeout(() => controller.abort(new HandshakeError(0, `The opening handshake timed out after ${timeout} ms`)), timeout)
      : undefined;
  return run(first, plan, p, controller.signal).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  });
}
