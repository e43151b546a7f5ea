// The server side of the opening handshake (RFC 6455 §4.2), modelled on gorilla/websocket's Upgrader.
//
// Slowloris and friends: everything up to and including the request head is read by node's HTTP server
// before an 'upgrade' event (and so `req`) exists. That part is governed by the http.Server's
// `headersTimeout` (default 60 s) and `requestTimeout` (default 300 s), `maxHeaderSize` (16 KiB) and
// `maxHeadersCount`; tune those on the server. The Upgrader's own `handshakeTimeout` starts when
// `upgrade()` is called and covers what follows: a slow (async) `checkOrigin` and a peer that does not
// read the 101 answer.
import * as http from 'http';
import type * as http2 from 'http2';
import type * as stream from 'stream';
import { DEFAULT_MAX_PAYLOAD } from '../codec/frame-parser';
import { HandshakeError } from '../errors';
import {
  PerMessageDeflate,
  negotiateServer,
  validatePerMessageDeflateOptions,
  type PerMessageDeflateOptions,
} from '../extensions/permessage-deflate';
import { WebSocket, type WebSocketOptions } from '../connection/websocket';
import { attachToHttp2Server } from '../http2/server';
import { computeAcceptKey, isValidKey } from './accept';
import { Refusal } from './refusal';
import {
  asciiLower,
  equalsIgnoreAsciiCase,
  findOutgoingHeader,
  headerHasToken,
  headerValue,
  isToken,
  parseList,
  readSingleHeader,
  serializeHeaders,
  type HeaderSource,
} from './headers';

/** Default {@link UpgraderOptions.handshakeTimeout}: long enough for any real client, short enough to shed stalled ones. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;


/** How long an error answer may take to flush before its socket is destroyed anyway. */
const ERROR_FLUSH_TIMEOUT = 5_000;

/** Options of an {@link Upgrader}. */
export interface UpgraderOptions {
  /**
   * Milliseconds from the `upgrade()` call until the 101 answer has been handed to the kernel; past it
   * the socket is destroyed and `upgrade()` rejects. Default 10 000; 0 disables it (not recommended:
   * nothing else bounds a peer that never reads the answer or a `checkOrigin` that never settles).
   */
  handshakeTimeout?: number;
  /**
   * Subprotocols the server speaks, in order of preference: the first one the client also offered is
   * chosen. When omitted, a `Sec-WebSocket-Protocol` in `responseHeaders` picks the protocol instead
   * (gorilla's rule), and it must be one the client offered.
   */
  subprotocols?: string[];
  /**
   * Decides whether the request's Origin may connect. Browsers send cookies with cross-site WebSocket
   * requests, so without this check any web page could open an authenticated connection (CSWSH). The
   * default, {@link checkSameOrigin}, allows requests without Origin (non-browser clients) and same-origin
   * ones. May return a promise; a throw or rejection answers 500. On HTTP/2 (see `attachHttp2`) it
   * receives the stream's request as an `IncomingMessage` whose `httpVersion` is '2.0' and whose `host`
   * header is the request's `:authority`.
   */
  checkOrigin?: (req: http.IncomingMessage) => boolean | Promise<boolean>;
  /** permessage-deflate (RFC 7692): `true` for the defaults, or its options. Off by default. */
  compression?: boolean | PerMessageDeflateOptions;
  /** Largest message accepted, in bytes (whole messages, after decompression). Default 64 MiB. */
  maxPayload?: number;
  /**
   * Answers a failed handshake instead of the default plain-text response. It receives the socket and owns
   * it from then on: it must write an answer (e.g. with {@link writeHandshakeError}) and end or destroy it.
   * Called only when an HTTP answer is still possible — not after a timeout or a socket error. HTTP/1.1
   * only: an HTTP/2 stream is refused with its status by the Upgrader itself.
   */
  onError?: (req: http.IncomingMessage, socket: stream.Duplex, status: number, reason: Error) => void;
  /** Passed to each connection: see {@link WebSocketOptions.keepAlive}. */
  keepAlive?: WebSocketOptions['keepAlive'];
  /** Passed to each connection: see {@link WebSocketOptions.closeTimeout}. */
  closeTimeout?: number;
  /** Passed to each connection: see {@link WebSocketOptions.maxBufferedAmount}. */
  maxBufferedAmount?: number;
}

/** Response headers the handshake itself writes; `responseHeaders` may not set them. */
const RESERVED_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-extensions',
]);

const SKIP_WHEN_SERIALIZING: ReadonlySet<string> = new Set(['sec-websocket-protocol']);

/** The subprotocol chosen and the caller's extra response header lines. */
interface PreparedResponse {
  readonly protocol: string;
  readonly lines: string;
}

const NO_EXTRA_RESPONSE: PreparedResponse = Object.freeze({ protocol: '', lines: '' });

/** @internal How {@link Upgrader.handleUpgrade} reports: an error, or the connection. */
export type UpgradeCallback = (err: Error | null, ws: WebSocket | null) => void;

/**
 * @internal The transport-specific half of a handshake: how its answers are written. The negotiation
 * itself (origin, subprotocol, permessage-deflate, the connection's settings) is the Upgrader's, shared
 * by HTTP/1.1 and HTTP/2. Implementations are module-level singletons, so a handshake allocates none.
 */
export interface HandshakeTransport {
  /** True for HTTP/1.1: `onError` and `responseHeaders` only exist there. */
  readonly http1: boolean;
  /** Writes the success answer; `key` is the request's Sec-WebSocket-Key ('' where there is none). */
  accept(socket: stream.Duplex, key: string, protocol: string, extensions: string, lines: string): void;
  /** Writes a refusal and ends the socket (or stream); safe when it is already gone. */
  refuse(socket: stream.Duplex, status: number, body: string, headers: Readonly<Record<string, string>>): void;
}

const HTTP1: HandshakeTransport = {
  http1: true,
  accept(socket, key, protocol, extensions, lines) {
    let response =
      'HTTP/1.1 101 Switching Protocols\r\n' +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n`;
    if (protocol !== '') response += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
    if (extensions !== '') response += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
    response += lines + '\r\n';
    // One write: the answer is one segment, and nothing can interleave with it. The connection
    // starts at once (frames it sends queue behind the 101); a write error reaches it as a socket error.
    socket.write(response, 'latin1');
  },
  refuse: writeHandshakeError,
};

function ignoreError(): void {
  /* a socket error during or after an error answer has nobody left to tell */
}

/**
 * Turns HTTP upgrade requests into WebSocket connections, validating everything RFC 6455 §4.2.1 asks of
 * the request and answering every failure with its own HTTP status. One Upgrader can serve any number of
 * requests concurrently; it keeps no per-connection state. {@link Upgrader.attachHttp2} does the same
 * for HTTP/2 extended CONNECT streams (RFC 8441), with the same negotiation.
 *
 * ```ts
 * const upgrader = new Upgrader({ subprotocols: ['chat'] });
 * server.on('upgrade', (req, socket, head) => {
 *   upgrader.upgrade(req, socket, head).then(onConnection, (err) => log(err));
 * });
 * ```
 */
export class Upgrader {
  private readonly handshakeTimeout: number;
  private readonly subprotocols: readonly string[] | undefined;
  private readonly checkOrigin: (req: http.IncomingMessage) => boolean | Promise<boolean>;
  private readonly compression: PerMessageDeflateOptions | null;
  private readonly maxPayload: number;
  private readonly onError: UpgraderOptions['onError'];
  private readonly keepAlive: WebSocketOptions['keepAlive'];
  private readonly closeTimeout: number | undefined;
  private readonly maxBufferedAmount: number | undefined;

  /** Validates the options eagerly, so a misconfiguration fails at startup rather than per request. */
  constructor(opts: UpgraderOptions = {}) {
    const timeout = opts.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    if (typeof timeout !== 'number' || !(timeout >= 0) || timeout > 0x7fffffff) {
      throw new RangeError(`handshakeTimeout must be a number of milliseconds between 0 and 2^31-1, got ${String(timeout)}`);
    }
    this.handshakeTimeout = timeout;
    if (opts.subprotocols !== undefined) {
      if (!Array.isArray(opts.subprotocols)) throw new TypeError('subprotocols must be an array of strings');
      for (const p of opts.subprotocols) {
        if (typeof p !== 'string' || !isToken(p)) {
          throw new SyntaxError(`Invalid subprotocol ${JSON.stringify(p)}: subprotocols must be RFC 7230 tokens`);
        }
      }
      this.subprotocols = [...opts.subprotocols];
    }
    this.checkOrigin = opts.checkOrigin ?? checkSameOrigin;
    this.compression =
      opts.compression === true ? {} : opts.compression ? { ...opts.compression } : null;
    // A bad compression setting fails here, at startup, not at every handshake.
    if (this.compression !== null) validatePerMessageDeflateOptions(this.compression);
    const maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (typeof maxPayload !== 'number' || !Number.isSafeInteger(maxPayload) || maxPayload < 0) {
      throw new RangeError(`maxPayload must be a non-negative integer, got ${String(maxPayload)}`);
    }
    this.maxPayload = maxPayload;
    this.onError = opts.onError;
    this.keepAlive = opts.keepAlive;
    this.closeTimeout = opts.closeTimeout;
    this.maxBufferedAmount = opts.maxBufferedAmount;
  }

  /**
   * Completes the handshake for an 'upgrade' request and resolves with the connection. On failure it
   * answers the request itself (or calls `onError`), then rejects with a {@link HandshakeError} whose
   * `status` is the status answered — 0 when no answer was possible (socket already gone, socket error,
   * timeout), in which case the socket is destroyed. The promise always settles.
   *
   * `head` is whatever arrived after the request head; it is handed to the connection, not dropped.
   * `responseHeaders` are added to the 101 answer (cookies, say); they may not touch the handshake's own
   * headers, and one with CR, LF or NUL fails the handshake with 500 before a byte is written.
   */
  upgrade(
    req: http.IncomingMessage,
    socket: stream.Duplex,
    head: Buffer,
    responseHeaders?: http.OutgoingHttpHeaders,
  ): Promise<WebSocket> {
    return new Promise<WebSocket>((resolve, reject) => {
      this.handleUpgrade(req, socket, head, responseHeaders, (err, ws) => (ws !== null ? resolve(ws) : reject(err)));
    });
  }

  /**
   * Accepts WebSockets over HTTP/2 (RFC 8441) on `server`: turns on `enableConnectProtocol` in its
   * SETTINGS and takes its `CONNECT` streams whose `:protocol` is `websocket`, whatever 'stream',
   * 'request' or 'connect' listeners the application has; every other stream is left to them. Each
   * request is checked (`:scheme`, `:path`, `:authority`, `sec-websocket-version: 13`) and negotiated
   * exactly like an HTTP/1.1 upgrade (origin, subprotocols, permessage-deflate), then answered `:status
   * 200` and handed to `onConnection`; a bad one is answered with its status (400, 403, 426, 501 for
   * another `:protocol`) and never reaches it. Returns the function that detaches: new sessions no
   * longer get the setting (RFC 8441 forbids withdrawing it from a session that has it) and later
   * streams go to the application's listeners.
   */
  attachHttp2(
    server: http2.Http2SecureServer | http2.Http2Server,
    onConnection: (ws: WebSocket, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
  ): () => void {
    return attachToHttp2Server(this, server, onConnection);
  }

  /**
   * @internal `upgrade()` without its promise: `done` is called exactly once, synchronously unless
   * `checkOrigin` returned a promise. Only that asynchronous case needs a timer and socket listeners,
   * so the common handshake sets up neither (measured: about 10% of a handshake's CPU).
   */
  handleUpgrade(
    req: http.IncomingMessage,
    socket: stream.Duplex,
    head: Buffer,
    responseHeaders: http.OutgoingHttpHeaders | undefined,
    done: UpgradeCallback,
  ): void {
    if (socket.destroyed || !socket.writable) {
      socket.on('error', ignoreError);
      socket.destroy();
      done(new HandshakeError(0, 'The socket was already closed when the opening handshake started'), null);
      return;
    }
    const key = validateRequest(req);
    if (key instanceof Refusal) return this.refuse(HTTP1, req, socket, key, undefined, done);
    this.negotiate(HTTP1, req, socket, head, key, responseHeaders, done);
  }

  /**
   * @internal The handshake after the transport's own checks, shared by HTTP/1.1 and HTTP/2: response
   * headers and subprotocol, then the (possibly asynchronous) origin check, then permessage-deflate and
   * the answer. `done` is called exactly once.
   */
  negotiate(
    transport: HandshakeTransport,
    req: http.IncomingMessage,
    socket: stream.Duplex,
    head: Buffer,
    key: string,
    responseHeaders: http.OutgoingHttpHeaders | undefined,
    done: UpgradeCallback,
  ): void {
    const prepared = this.prepareResponseHeaders(req, responseHeaders);
    if (prepared instanceof Refusal) return this.refuse(transport, req, socket, prepared, undefined, done);

    let verdict: boolean | Promise<boolean>;
    try {
      verdict = this.checkOrigin(req);
    } catch (e) {
      return this.refuse(transport, req, socket, new Refusal(500, `checkOrigin threw: ${describe(e)}`), e, done);
    }
    if (!isPromiseLike(verdict)) {
      this.afterOrigin(transport, req, socket, head, key, prepared, verdict, done);
      return;
    }

    // Waiting on the application: the socket may fail or close meanwhile, and the wait is bounded.
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      socket.removeListener('error', onSocketError);
      socket.removeListener('close', onSocketClose);
      return true;
    };
    const abort = (err: HandshakeError): void => {
      if (!settle()) return;
      socket.on('error', ignoreError);
      socket.destroy();
      done(err, null);
    };
    const onSocketError = (e: Error): void =>
      abort(new HandshakeError(0, `Socket error during the opening handshake: ${e.message}`, {}, { cause: e }));
    const onSocketClose = (): void => abort(new HandshakeError(0, 'The socket closed during the opening handshake'));
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    if (this.handshakeTimeout > 0) {
      timer = setTimeout(
        () => abort(new HandshakeError(0, `The opening handshake timed out after ${this.handshakeTimeout} ms`)),
        this.handshakeTimeout,
      );
    }
    verdict.then(
      (allowed) => {
        if (settle()) this.afterOrigin(transport, req, socket, head, key, prepared, allowed, done);
      },
      (e: unknown) => {
        if (settle()) this.refuse(transport, req, socket, new Refusal(500, `checkOrigin rejected: ${describe(e)}`), e, done);
      },
    );
  }

  private afterOrigin(
    transport: HandshakeTransport,
    req: http.IncomingMessage,
    socket: stream.Duplex,
    head: Buffer,
    key: string,
    prepared: PreparedResponse,
    allowed: boolean,
    done: UpgradeCallback,
  ): void {
    if (allowed !== true) return this.refuse(transport, req, socket, new Refusal(403, 'Origin not allowed'), undefined, done);
    let extensions = '';
    let deflate: PerMessageDeflate | null = null;
    if (this.compression !== null) {
      try {
        const negotiated = negotiateServer(headerValue(req.headers, 'sec-websocket-extensions'), this.compression);
        if (negotiated !== null) {
          deflate = new PerMessageDeflate(negotiated.params, this.compression, true);
          extensions = negotiated.response;
        }
      } catch (e) {
        return this.refuse(transport, req, socket, new Refusal(500, `permessage-deflate negotiation failed: ${describe(e)}`), e, done);
      }
    }

    transport.accept(socket, key, prepared.protocol, extensions, prepared.lines);
    let ws: WebSocket;
    try {
      ws = new WebSocket(socket, head, {
        isServer: true,
        protocol: prepared.protocol,
        extensions,
        maxPayload: this.maxPayload,
        deflate,
        keepAlive: this.keepAlive,
        closeTimeout: this.closeTimeout,
        maxBufferedAmount: this.maxBufferedAmount,
      });
    } catch (e) {
      if (deflate !== null) {
        try {
          deflate.close();
        } catch {
          /* freeing zlib cannot be allowed to mask the construction error */
        }
      }
      socket.on('error', ignoreError);
      socket.destroy();
      done(e instanceof Error ? e : new Error(String(e)), null);
      return;
    }
    done(null, ws);
  }

  /** @internal Answers with an HTTP error (or hands the socket to onError), then reports the failure. */
  refuse(
    transport: HandshakeTransport,
    req: http.IncomingMessage,
    socket: stream.Duplex,
    refusal: Refusal,
    cause: unknown,
    done: UpgradeCallback,
  ): void {
    socket.on('error', ignoreError);
    const err = new HandshakeError(refusal.status, refusal.message, refusal.headers, cause === undefined ? undefined : { cause });
    if (this.onError && transport.http1) {
      try {
        this.onError(req, socket, refusal.status, err);
      } catch {
        socket.destroy();
      }
    } else {
      // A 5xx is our own fault: its details go to the rejection (for logs), not to the peer.
      const body = refusal.status >= 500 ? (http.STATUS_CODES[refusal.status] ?? 'Error') : refusal.message;
      transport.refuse(socket, refusal.status, body, refusal.headers);
    }
    done(err, null);
  }

  /** Picks the subprotocol and serializes the caller's response headers, or refuses with 500. */
  private prepareResponseHeaders(
    req: http.IncomingMessage,
    responseHeaders: http.OutgoingHttpHeaders | undefined,
  ): PreparedResponse | Refusal {
    if (responseHeaders === undefined && this.subprotocols === undefined) return NO_EXTRA_RESPONSE;
    if (responseHeaders !== undefined && (responseHeaders === null || typeof responseHeaders !== 'object')) {
      return new Refusal(500, 'responseHeaders must be an object');
    }
    for (const reserved of RESERVED_RESPONSE_HEADERS) {
      const found = findOutgoingHeader(responseHeaders, reserved);
      if (found !== undefined) {
        const why =
          reserved === 'sec-websocket-extensions'
            ? 'extensions are negotiated by the Upgrader (see the compression option)'
            : 'the handshake writes it itself';
        return new Refusal(500, `responseHeaders must not set ${found.name}: ${why}`);
      }
    }
    let lines: string;
    try {
      lines = serializeHeaders(responseHeaders, SKIP_WHEN_SERIALIZING);
    } catch (e) {
      return new Refusal(500, `Invalid responseHeaders: ${describe(e)}`, {});
    }

    const offered = parseList(headerValue(req.headers, 'sec-websocket-protocol'));
    const fromHeaders = findOutgoingHeader(responseHeaders, 'sec-websocket-protocol');
    if (this.subprotocols !== undefined) {
      if (fromHeaders !== undefined) {
        return new Refusal(500, 'Set the subprotocol with either the subprotocols option or responseHeaders, not both');
      }
      const chosen = this.subprotocols.find((p) => offered.includes(p));
      return { protocol: chosen ?? '', lines };
    }
    if (fromHeaders === undefined || fromHeaders.value === undefined) return { protocol: '', lines };
    const value = fromHeaders.value;
    if (typeof value !== 'string' || !isToken(value)) {
      return new Refusal(500, 'responseHeaders Sec-WebSocket-Protocol must be a single subprotocol token');
    }
    if (!offered.includes(value)) {
      return new Refusal(500, 'responseHeaders Sec-WebSocket-Protocol names a subprotocol the client did not offer');
    }
    return { protocol: value, lines };
  }
}

/**
 * The checks of RFC 6455 §4.2.1 on the request itself, in the order their answers are most useful.
 * Returns the refusal, or the request's (valid) Sec-WebSocket-Key.
 */
function validateRequest(req: http.IncomingMessage): Refusal | string {
  if (req.method !== 'GET') {
    return new Refusal(405, 'Method not allowed: the WebSocket opening handshake must be a GET request', { Allow: 'GET' });
  }
  const major = req.httpVersionMajor;
  const minor = req.httpVersionMinor;
  if (typeof major === 'number' && typeof minor === 'number' && (major < 1 || (major === 1 && minor < 1))) {
    return new Refusal(400, 'The WebSocket opening handshake requires HTTP/1.1 or later');
  }
  const host = readSingleHeader(req, 'host');
  if (host.kind === 'absent') return new Refusal(400, 'Missing Host header');
  if (host.kind === 'duplicated') return new Refusal(400, 'Duplicated Host header');
  if (!headerHasToken(req, 'connection', 'upgrade')) {
    return new Refusal(400, "Not a WebSocket handshake: 'upgrade' token not found in the Connection header");
  }
  if (!headerHasToken(req, 'upgrade', 'websocket')) {
    return new Refusal(400, "Not a WebSocket handshake: 'websocket' not found in the Upgrade header");
  }
  const version = readSingleHeader(req, 'sec-websocket-version');
  if (version.kind !== 'present' || version.value !== '13') {
    return new Refusal(426, 'Unsupported WebSocket version: Sec-WebSocket-Version must be 13', {
      'Sec-WebSocket-Version': '13',
    });
  }
  const key = readSingleHeader(req, 'sec-websocket-key');
  if (key.kind === 'absent') return new Refusal(400, 'Missing Sec-WebSocket-Key header');
  if (key.kind === 'duplicated') return new Refusal(400, 'Duplicated Sec-WebSocket-Key header');
  if (!isValidKey(key.value)) {
    return new Refusal(400, 'Invalid Sec-WebSocket-Key header: it must be the base64 of 16 bytes');
  }
  return key.value;
}

function isPromiseLike(v: unknown): v is Promise<boolean> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Host[:port] as it may appear in a Host header — checked before a URL parser is allowed to normalize it. */
function isPlainHost(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x39) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      c === 0x2e || // .
      c === 0x2d || // -
      c === 0x3a || // :
      c === 0x5b || // [
      c === 0x5d; // ]
    if (!ok) return false;
  }
  return true;
}

/**
 * True when a browser at `origin` is talking to its own host `host` (the request's Host header):
 * the Origin's host (and port) must equal Host, ASCII case-insensitively. An Origin that does not parse
 * as a URL — including the opaque `null` of sandboxed frames and file: pages — is refused. A default
 * port written out in Host (`example.com:443` against `https://example.com`) still matches.
 */
export function isSameOrigin(origin: string, host: string): boolean {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false;
  }
  if (u.host === '') return false;
  if (equalsIgnoreAsciiCase(u.host, host)) return true;
  // Normalize only a Host made of host-name characters, so the parser cannot be steered by '@' or '/'.
  if (!isPlainHost(host)) return false;
  try {
    return new URL(`${u.protocol}//${host}`).host === u.host;
  } catch {
    return false;
  }
}

/**
 * The default `checkOrigin`, gorilla's rule: a request without Origin (a non-browser client, which could
 * forge any Origin anyway) is allowed; otherwise the Origin must be same-origin per {@link isSameOrigin}.
 * A duplicated Origin or Host is refused rather than guessed at.
 */
export function checkSameOrigin(req: HeaderSource): boolean {
  const origin = readSingleHeader(req, 'origin');
  if (origin.kind === 'absent') return true;
  if (origin.kind === 'duplicated') return false;
  const host = readSingleHeader(req, 'host');
  if (host.kind !== 'present') return false;
  return isSameOrigin(origin.value, host.value);
}

/**
 * Writes a complete `HTTP/1.1 <status>` answer refusing an upgrade — `Connection: close`, a plain-text
 * `body` and its `Content-Length`, plus `headers` — then ends and destroys the socket. Meant for
 * `onError` handlers and for servers refusing upgrades themselves. Safe on a socket that is already gone,
 * and it never lets a socket error escape. Headers that fail validation are left out, never written.
 */
export function writeHandshakeError(
  socket: stream.Duplex,
  status: number,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  socket.on('error', ignoreError);
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const code = Number.isInteger(status) && status >= 100 && status <= 999 ? status : 500;
  const reason = http.STATUS_CODES[code] ?? 'Error';
  let extra = '';
  for (const [name, value] of Object.entries(headers)) {
    const lower = asciiLower(name);
    if (lower === 'connection' || lower === 'content-type' || lower === 'content-length') continue;
    try {
      extra += serializeHeaders({ [name]: value });
    } catch {
      /* an unsafe header is dropped, never written */
    }
  }
  const payload = Buffer.from(body, 'utf8');
  const headBytes = Buffer.from(
    `HTTP/1.1 ${code} ${reason}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${payload.length}\r\n` +
      extra +
      '\r\n',
    'latin1',
  );
  // A peer that never reads must not hold the socket open: destroy after flushing, or after a grace period.
  const timer = setTimeout(() => socket.destroy(), ERROR_FLUSH_TIMEOUT);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('finish', () => {
    clearTimeout(timer);
    socket.destroy();
  });
  socket.end(Buffer.concat([headBytes, payload]));
}
