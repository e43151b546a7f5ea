// WebSockets over HTTP/2 on the server (RFC 8441): which streams are WebSockets, their checks, and how
// they are answered. The negotiation itself (origin, subprotocols, permessage-deflate) is the Upgrader's,
// the same one HTTP/1.1 upgrades go through.
import * as http from 'http';
import * as http2 from 'http2';
import type * as net from 'net';
import type * as stream from 'stream';
import type { WebSocket } from '../connection/websocket';
import { asciiLower, equalsIgnoreAsciiCase, isSafeHeaderValue, isToken } from '../handshake/headers';
import { Refusal } from '../handshake/refusal';
import type { HandshakeTransport, UpgradeCallback, Upgrader } from '../handshake/server';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;

/** How long a refusal may take to flush before its stream is reset anyway. */
const REFUSAL_FLUSH_TIMEOUT = 5_000;

const EMPTY = Buffer.alloc(0);

/** nghttp2's (and so node's) connection receive window until something sets another. */
const NODE_DEFAULT_WINDOW = 65_535;

/**
 * The connection receive window given to a session when its first WebSocket stream arrives, if the
 * window is still node's default: 64 KiB for all the streams of a session had clients with several
 * messages in flight on many streams wait for WINDOW_UPDATE (100 streams x 8 x 1 KiB is 800 KiB in
 * flight). It costs no memory: node gives the connection window back as DATA arrives, read or not, so
 * what a session can make the server hold for WebSockets nobody reads is bounded per stream, by the
 * server's own `settings.initialWindowSize` (64 KiB by default). An application that set the window
 * itself (`session.setLocalWindowSize()` in its 'session' listener) keeps its value.
 */
export const HTTP2_SERVER_CONNECTION_WINDOW = 1024 * 1024;

// Sessions whose window was looked at already: the check runs once per session, not per stream.
const windowChecked = new WeakSet<http2.Http2Session>();

function raiseConnectionWindow(session: http2.Http2Session | undefined): void {
  if (session === undefined || windowChecked.has(session)) return;
  windowChecked.add(session);
  if (session.destroyed || session.closed) return;
  try {
    if (session.state.effectiveLocalWindowSize === NODE_DEFAULT_WINDOW) session.setLocalWindowSize(HTTP2_SERVER_CONNECTION_WINDOW);
  } catch {
    /* a session going away meanwhile: its streams see that themselves */
  }
}

/** Either kind of node HTTP/2 server. */
export type AnyHttp2Server = http2.Http2SecureServer | http2.Http2Server;

/** @internal What the server-level code decides for each WebSocket stream, before the handshake. */
export interface Http2AttachHooks {
  /** A refusal to answer instead of handshaking (wrong path, shutting down), or undefined to go on. */
  gate?(req: http.IncomingMessage): Refusal | undefined;
  /** Every handshake's outcome, with its request and stream; exactly once per WebSocket stream. */
  done(
    err: Error | null,
    ws: WebSocket | null,
    req: http.IncomingMessage,
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
  ): void;
  /** Answer the streams nobody else takes (404, or 405 for a plain CONNECT) instead of leaving them open. */
  answerUnclaimed?: boolean;
}

function ignoreError(): void {
  /* a stream error after its answer has nobody left to tell */
}

/** The HTTP/2 answers: `:status 200` and the negotiated headers, or the refusal's status and text. */
const HTTP2: HandshakeTransport = {
  http1: false,
  accept(socket, _key, protocol, extensions) {
    const headers: http2.OutgoingHttpHeaders = { ':status': 200 };
    if (protocol !== '') headers['sec-websocket-protocol'] = protocol;
    if (extensions !== '') headers['sec-websocket-extensions'] = extensions;
    // A stream reset meanwhile makes respond() throw; the connection then sees the stream close (1006).
    try {
      (socket as http2.ServerHttp2Stream).respond(headers);
    } catch {
      socket.destroy();
    }
  },
  refuse: refuseStream,
};

/**
 * Answers an HTTP/2 stream with `status`, a plain-text `body` and `headers` (unsafe ones left out),
 * then resets it once the answer is flushed: the peer's half of a CONNECT stream is otherwise open.
 */
export function refuseStream(
  socket: stream.Duplex,
  status: number,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  const stream = socket as http2.ServerHttp2Stream;
  stream.on('error', ignoreError);
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(NGHTTP2_CANCEL);
    return;
  }
  const payload = Buffer.from(body, 'utf8');
  const out: http2.OutgoingHttpHeaders = {
    ':status': status,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': payload.length,
  };
  for (const [name, value] of Object.entries(headers)) {
    const lower = asciiLower(name);
    if (lower === 'connection' || lower === 'content-type' || lower === 'content-length' || lower === 'allow') continue;
    if (isToken(lower) && isSafeHeaderValue(value)) out[lower] = value;
  }
  const timer = setTimeout(() => stream.close(NGHTTP2_CANCEL), REFUSAL_FLUSH_TIMEOUT);
  timer.unref();
  stream.once('close', () => clearTimeout(timer));
  try {
    stream.respond(out);
    stream.end(payload, () => {
      // Our answer is complete; what the peer would still send on this stream is of no use (RFC 9113 §8.1).
      if (!stream.closed) stream.close(NGHTTP2_NO_ERROR);
    });
  } catch {
    stream.destroy();
  }
}

/** True for a stream this attachment owns: any CONNECT with `:protocol`, or a WebSocket request that lacks it. */
function isWebSocketStream(headers: http2.IncomingHttpHeaders): boolean {
  if (headers[':protocol'] !== undefined) return true;
  return headers[':method'] === 'CONNECT' && headers['sec-websocket-version'] !== undefined;
}

/** RFC 8441 §4 and §5's checks on the request; the refusal, or undefined when it is a valid WebSocket request. */
export function validateHttp2Request(headers: http2.IncomingHttpHeaders): Refusal | undefined {
  if (headers[':method'] !== 'CONNECT') {
    return new Refusal(405, 'Method not allowed: a WebSocket over HTTP/2 is an extended CONNECT request (RFC 8441 §4)');
  }
  const protocol = headers[':protocol'];
  if (protocol === undefined) {
    return new Refusal(400, 'Missing :protocol: a WebSocket over HTTP/2 is an extended CONNECT request (RFC 8441 §4)');
  }
  if (typeof protocol !== 'string' || !equalsIgnoreAsciiCase(protocol, 'websocket')) {
    return new Refusal(501, 'Unsupported :protocol: only websocket is spoken here');
  }
  const scheme = headers[':scheme'];
  if (scheme !== 'https' && scheme !== 'http') {
    return new Refusal(400, 'Missing or invalid :scheme: an extended CONNECT carries http or https (RFC 8441 §4)');
  }
  const path = headers[':path'];
  if (typeof path !== 'string' || !path.startsWith('/')) {
    return new Refusal(400, 'Missing or invalid :path: an extended CONNECT carries the WebSocket URL path (RFC 8441 §4)');
  }
  const authority = headers[':authority'];
  if (typeof authority !== 'string' || authority === '') return new Refusal(400, 'Missing :authority');
  if (headers['sec-websocket-version'] !== '13') {
    return new Refusal(426, 'Unsupported WebSocket version: sec-websocket-version must be 13', {
      'sec-websocket-version': '13',
    });
  }
  return undefined;
}

/**
 * The request as `checkOrigin` and 'connection' listeners see it: a real `IncomingMessage` (so code
 * written for HTTP/1.1 upgrades runs unchanged) with `httpVersion` '2.0', `method` CONNECT, `url` the
 * `:path`, and the stream's headers plus `host` set to `:authority`. Its `socket` is the session's.
 */
function requestOf(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  rawHeaders: unknown,
): http.IncomingMessage {
  const req = new http.IncomingMessage(stream.session?.socket as net.Socket);
  req.httpVersion = '2.0';
  req.httpVersionMajor = 2;
  req.httpVersionMinor = 0;
  req.method = 'CONNECT';
  const path = headers[':path'];
  req.url = typeof path === 'string' ? path : '/';
  const authority = headers[':authority'];
  const view: http.IncomingHttpHeaders = Object.create(null) as http.IncomingHttpHeaders;
  // rawHeaders too: the header readers prefer them (node keeps every occurrence there, so a duplicated
  // Origin is seen as such), and an empty list would read as "no Origin".
  const raw: string[] = [];
  const given = Array.isArray(rawHeaders) ? (rawHeaders as unknown[]) : null;
  for (const name of Object.keys(headers)) {
    if (name === 'host' && typeof authority === 'string') continue;
    const value: unknown = headers[name];
    if (typeof value === 'string') view[name] = value;
    else if (Array.isArray(value)) view[name] = value as string[];
    else continue;
    if (given !== null) continue;
    for (const v of Array.isArray(value) ? (value as unknown[]) : [value]) if (typeof v === 'string') raw.push(name, v);
  }
  if (given !== null) {
    for (let i = 0; i + 1 < given.length; i += 2) {
      const name = given[i];
      const value = given[i + 1];
      if (typeof name !== 'string' || typeof value !== 'string') continue;
      if (typeof authority === 'string' && equalsIgnoreAsciiCase(name, 'host')) continue;
      raw.push(name, value);
    }
  }
  if (typeof authority === 'string') {
    view.host = authority;
    raw.push('host', authority);
  }
  req.headers = view;
  req.rawHeaders = raw;
  req.complete = true;
  return req;
}

/** Node's rule for streams no listener took, which would otherwise stay open until the session ends. */
function answerUnclaimedStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  if (headers[':method'] === 'CONNECT') refuseStream(stream, 405, 'Method Not Allowed');
  else refuseStream(stream, 404, 'Not Found');
}

// Attachments per server: the setting stays on while any is attached.
const attachments = new WeakMap<AnyHttp2Server, number>();

/**
 * @internal Takes the server's WebSocket streams through `upgrader` (see `Upgrader.attachHttp2`).
 *
 * Why `emit` is wrapped rather than a listener added: a server with a 'request' listener has node's
 * compatibility 'stream' listener, which answers every CONNECT it sees 405 unless a 'connect' listener
 * takes it, and an application's own 'stream' listener would answer ours too. Only by seeing the
 * 'stream' event before any listener can a WebSocket stream be kept from them, whichever they are.
 */
export function attachToHttp2Server(
  upgrader: Upgrader,
  server: AnyHttp2Server,
  onConnection: ((ws: WebSocket, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void) | Http2AttachHooks,
): () => void {
  if (
    server === null ||
    typeof server !== 'object' ||
    typeof (server as { updateSettings?: unknown }).updateSettings !== 'function' ||
    typeof server.emit !== 'function'
  ) {
    throw new TypeError('attachHttp2 needs an HTTP/2 server (http2.createServer or http2.createSecureServer)');
  }
  const hooks: Http2AttachHooks =
    typeof onConnection === 'function'
      ? {
          done(_err, ws, _req, stream, headers) {
            if (ws !== null) onConnection(ws, stream, headers);
          },
        }
      : onConnection;
  if (typeof hooks.done !== 'function') throw new TypeError('onConnection must be a function');

  let active = true;
  const previous = server.emit;
  const emit = function (this: AnyHttp2Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'stream' && active) {
      const stream = args[0] as http2.ServerHttp2Stream;
      const headers = args[1] as http2.IncomingHttpHeaders;
      if (headers !== null && typeof headers === 'object' && isWebSocketStream(headers)) {
        handleStream(upgrader, hooks, stream, headers, args[3]);
        return true;
      }
      const taken = Reflect.apply(previous, this, [event, ...args]) as boolean;
      if (!taken && hooks.answerUnclaimed === true) answerUnclaimedStream(stream, headers);
      return taken;
    }
    return Reflect.apply(previous, this, [event, ...args]) as boolean;
  };
  server.emit = emit as typeof server.emit;
  attachments.set(server, (attachments.get(server) ?? 0) + 1);
  // Only sessions that start from now on see it: attach before listening.
  server.updateSettings({ enableConnectProtocol: true });

  return () => {
    if (!active) return;
    active = false;
    // Unwrapped only when nothing wrapped it since; otherwise the wrapper stays and passes everything on.
    if (server.emit === emit) server.emit = previous;
    const left = (attachments.get(server) ?? 1) - 1;
    attachments.set(server, left);
    if (left === 0) server.updateSettings({ enableConnectProtocol: false });
  };
}

function handleStream(
  upgrader: Upgrader,
  hooks: Http2AttachHooks,
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  rawHeaders: unknown,
): void {
  const req = requestOf(stream, headers, rawHeaders);
  const done: UpgradeCallback = (err, ws) => hooks.done(err, ws, req, stream, headers);
  if (stream.destroyed || stream.closed) {
    upgrader.refuse(HTTP2, req, stream, new Refusal(0, 'The stream was already closed when the opening handshake started'), undefined, done);
    return;
  }
  const refusal = validateHttp2Request(headers) ?? hooks.gate?.(req);
  if (refusal !== undefined) {
    upgrader.refuse(HTTP2, req, stream, refusal, undefined, done);
    return;
  }
  raiseConnectionWindow(stream.session);
  upgrader.negotiate(HTTP2, req, stream, EMPTY, '', undefined, done);
}
