// The client side of the opening handshake (RFC 6455 §4.1), modelled on gorilla/websocket's Dialer.
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import type * as stream from 'stream';
import type * as tls from 'tls';
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
} from './headers';

/** Default {@link ConnectOptions.handshakeTimeout}: a dead or black-holed server must not hang the caller forever. */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;


/** TLS settings passed through to `tls.connect` for `wss://` URLs (ignored for `ws://`). */
export type ConnectTlsOptions = Pick<
  tls.ConnectionOptions,
  | 'ca'
  | 'cert'
  | 'key'
  | 'pfx'
  | 'passphrase'
  | 'rejectUnauthorized'
  | 'servername'
  | 'checkServerIdentity'
  | 'minVersion'
  | 'maxVersion'
  | 'ciphers'
  | 'ecdhCurve'
  | 'crl'
  | 'secureContext'
>;

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
   * Milliseconds for the whole handshake — DNS, TCP, TLS, request and the 101 answer. Default 10 000;
   * 0 disables it (then only `signal` can end a hung attempt).
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

const TLS_KEYS: readonly (keyof ConnectTlsOptions)[] = [
  'ca',
  'cert',
  'key',
  'pfx',
  'passphrase',
  'rejectUnauthorized',
  'servername',
  'checkServerIdentity',
  'minVersion',
  'maxVersion',
  'ciphers',
  'ecdhCurve',
  'crl',
  'secureContext',
];

function ignoreError(): void {
  /* errors after the attempt has settled have nobody left to tell */
}

function abortError(signal: AbortSignal): DOMException {
  const reason: unknown = signal.reason;
  if (reason instanceof DOMException && reason.name === 'AbortError') return reason;
  return new DOMException('The WebSocket connection attempt was aborted', { name: 'AbortError', cause: reason });
}

/** What {@link parseTarget} makes of the URL: where to connect and what to put in the request line. */
interface Target {
  secure: boolean;
  hostname: string;
  port: number;
  path: string;
  host: string;
  authorization: string | undefined;
}

/**
 * Parses and checks a WebSocket URL (RFC 6455 §3): `ws:` or `wss:` (`http:`/`https:` accepted as
 * aliases, as browsers do), and no fragment — not even an empty one.
 */
function parseTarget(url: string | URL): Target {
  const text =
    typeof url === 'string'
      ? url
      : typeof url === 'object' && url !== null && typeof (url as { href?: unknown }).href === 'string'
        ? url.href
        : undefined;
  if (text === undefined) throw new TypeError('url must be a string or a URL');
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new TypeError(`Invalid URL: ${JSON.stringify(text)}`);
  }
  let secure: boolean;
  switch (u.protocol) {
    case 'ws:':
    case 'http:':
      secure = false;
      break;
    case 'wss:':
    case 'https:':
      secure = true;
      break;
    default:
      throw new TypeError(`Unsupported URL scheme ${JSON.stringify(u.protocol)}: use ws: or wss:`);
  }
  if (u.hash !== '' || text.includes('#')) {
    throw new TypeError('A WebSocket URL must not contain a fragment (RFC 6455 §3)');
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
  // u.host keeps IPv6 brackets and leaves out the scheme's default port, as Host must (RFC 7230 §5.4).
  return { secure, hostname, port, path: (u.pathname || '/') + u.search, host: u.host, authorization };
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

/**
 * Builds the request headers: the caller's (validated, spelled as given), then the handshake's own in
 * their conventional spelling — names are case-insensitive, but not every server out there knows it.
 */
function buildHeaders(
  target: Target,
  opts: ConnectOptions,
  key: string,
  protocols: readonly string[],
  offer: string | undefined,
): HeaderMap {
  const headers = createHeaderMap();
  const user = opts.headers ?? {};
  if (typeof user !== 'object' || user === null) throw new TypeError('headers must be an object');
  const seen = new Set<string>();
  let userHost = false;
  let userAuthorization = false;
  for (const name of Object.keys(user)) {
    const value: unknown = user[name];
    if (typeof value !== 'string') throw new TypeError(`The value of header "${name}" must be a string`);
    assertSafeHeader(name, value);
    const lower = asciiLower(name);
    if (RESERVED_REQUEST_HEADERS.has(lower)) {
      throw new TypeError(
        `Header "${name}" is set by the handshake itself` +
          (lower === 'sec-websocket-protocol' ? ': use the protocols option' : lower === 'sec-websocket-extensions' ? ': use the compression option' : ''),
      );
    }
    if (lower === 'origin' && opts.origin !== undefined) continue;
    if (lower === 'host') userHost = true;
    if (lower === 'authorization') userAuthorization = true;
    if (seen.has(lower)) throw new TypeError(`Header "${name}" is given twice`);
    seen.add(lower);
    headers[name] = value;
  }
  if (!userHost) headers['Host'] = target.host;
  if (!userAuthorization && target.authorization !== undefined) headers['Authorization'] = target.authorization;
  if (opts.origin !== undefined) {
    if (typeof opts.origin !== 'string') throw new TypeError('origin must be a string');
    assertSafeHeader('Origin', opts.origin);
    headers['Origin'] = opts.origin;
  }
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

/** What the server agreed to, once its 101 answer has been checked. */
interface Agreement {
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

/**
 * Opens a WebSocket connection to `url` (`ws://` or `wss://`) and resolves once the opening handshake
 * has succeeded. It rejects — never hangs — with:
 * - a TypeError or SyntaxError for a bad URL or bad options, before anything is sent;
 * - the network error (DNS, connection refused, TLS) as node reports it;
 * - a {@link HandshakeError} whose `status` is the server's status when it did not answer 101
 *   (`Unexpected server response: 403`), 101 when its 101 answer was invalid, or 0 on timeout;
 * - an `AbortError` (a DOMException) when `signal` aborts.
 *
 * Each call uses its own socket (no Agent pooling: a WebSocket owns its connection for its lifetime).
 */
export function connect(url: string | URL, opts: ConnectOptions = {}): Promise<WebSocket> {
  return new Promise<WebSocket>((resolve, reject) => {
    let target: Target;
    let protocols: string[];
    let compression: PerMessageDeflateOptions | null;
    let key: string;
    let headers: HeaderMap;
    let timeout: number;
    let maxPayload: number;
    try {
      target = parseTarget(url);
      protocols = checkProtocols(opts.protocols);
      compression = opts.compression === true ? {} : opts.compression ? { ...opts.compression } : null;
      if (compression !== null) validatePerMessageDeflateOptions(compression);
      timeout = opts.handshakeTimeout ?? DEFAULT_CONNECT_TIMEOUT;
      if (typeof timeout !== 'number' || !(timeout >= 0) || timeout > 0x7fffffff) {
        throw new RangeError(`handshakeTimeout must be a number of milliseconds between 0 and 2^31-1, got ${String(timeout)}`);
      }
      maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
      if (typeof maxPayload !== 'number' || !Number.isSafeInteger(maxPayload) || maxPayload < 0) {
        throw new RangeError(`maxPayload must be a non-negative integer, got ${String(maxPayload)}`);
      }
      key = generateKey();
      const offer = compression !== null ? buildClientOffer(compression) : undefined;
      headers = buildHeaders(target, opts, key, protocols, offer);
    } catch (e) {
      reject(e);
      return;
    }
    const signal = opts.signal;
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }

    const requestOptions: https.RequestOptions = {
      hostname: target.hostname,
      port: target.port,
      path: target.path,
      method: 'GET',
      headers,
      agent: false,
    };
    if (target.secure) {
      const source = opts as Record<string, unknown>;
      const sink = requestOptions as Record<string, unknown>;
      for (const k of TLS_KEYS) if (source[k] !== undefined) sink[k] = source[k];
    }

    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let req: http.ClientRequest;
    try {
      req = target.secure ? https.request(requestOptions) : http.request(requestOptions);
    } catch (e) {
      reject(e);
      return;
    }
    // Permanent: destroying an unanswered request emits 'socket hang up', which must not crash anyone.
    req.on('error', ignoreError);

    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      signal?.removeEventListener('abort', onAbort);
      req.removeListener('error', onError);
      req.removeListener('response', onResponse);
      req.removeListener('upgrade', onUpgrade);
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      cleanup();
      req.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(abortError(signal as AbortSignal));
    const onError = (err: Error): void => fail(err);
    const onResponse = (res: http.IncomingMessage): void => {
      const status = res.statusCode ?? 0;
      res.on('error', ignoreError);
      res.resume();
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
    const onUpgrade = (res: http.IncomingMessage, socket: stream.Duplex, head: Buffer): void => {
      socket.on('error', ignoreError);
      if (settled) {
        socket.destroy();
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
        if (socket instanceof net.Socket) {
          socket.setTimeout(0);
          socket.setNoDelay(true);
        }
        socket.removeListener('error', ignoreError);
        const ws = new WebSocket(socket, head, {
          isServer: false,
          protocol: agreed.protocol,
          extensions: agreed.extensions,
          maxPayload,
          deflate,
          keepAlive: opts.keepAlive,
          closeTimeout: opts.closeTimeout,
          maxBufferedAmount: opts.maxBufferedAmount,
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
        socket.on('error', ignoreError);
        socket.destroy();
        reject(e);
      }
    };

    req.on('error', onError);
    req.on('response', onResponse);
    req.on('upgrade', onUpgrade);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeout > 0) {
      timer = setTimeout(() => fail(new HandshakeError(0, `The opening handshake timed out after ${timeout} ms`)), timeout);
    }
    req.end();
  });
}
