// WebSockets over HTTP/2 on the client (RFC 8441): per-origin session pooling, the extended CONNECT
// stream, and the fall back to HTTP/1.1. The request headers and the negotiation checks are the HTTP/1.1
// client's (src/handshake/client.ts lends them), so both transports accept exactly the same answers.
import * as http2 from 'http2';
import { isIP } from 'net';
import * as tls from 'tls';
import { WebSocket } from '../connection/websocket';
import { HandshakeError } from '../errors';
import { PerMessageDeflate, type PerMessageDeflateOptions } from '../extensions/permessage-deflate';
import type { Agreement, ConnectOptions, Target } from '../handshake/client';
import { TLS_KEYS } from '../transport/transport';
import { asciiLower, type HeaderMap, type HeaderSource } from '../handshake/headers';

const EMPTY = Buffer.alloc(0);

/**
 * The receive windows of the sessions this client opens (node's default is 64 KiB for both). With
 * several messages in flight on each of many streams, 64 KiB for the whole connection had the server
 * wait for a WINDOW_UPDATE every few dozen messages (100 streams x 8 x 1 KiB is 800 KiB in flight;
 * `npm run bench:http2 -- --ab`: 14-29% less CPU per message at 1 KiB), and 8 messages of 16 KiB already
 * exceed 64 KiB on one stream. What a server can make this client hold that the application does not
 * read is bounded by the stream window, per stream. A session passed as `http2` keeps its own settings.
 *
 * Not more than 1 MiB for the connection: a node session stops reading its socket while a write to it is
 * pending, so two peers that both let the other have more in flight than the socket buffers hold can both
 * stall writing, neither reading (seen with 16 MiB windows on both ends, 100 streams x 8 x 16 KiB echoed).
 */
export const HTTP2_CLIENT_STREAM_WINDOW = 1024 * 1024;
/** See {@link HTTP2_CLIENT_STREAM_WINDOW}. */
export const HTTP2_CLIENT_CONNECTION_WINDOW = 1024 * 1024;

/** Request headers of the HTTP/1.1 upgrade that HTTP/2 has no place for (RFC 8441 §5, RFC 9113 §8.2.2). */
const HTTP1_ONLY: ReadonlySet<string> = new Set(['upgrade', 'connection', 'sec-websocket-key', 'host']);

/** @internal One connect() over HTTP/2, with what the HTTP/1.1 client already prepared and checked. */
export interface Http2Attempt {
  target: Target;
  /** The HTTP/1.1 request headers: validated, with the offer of subprotocols and extensions. */
  headers: HeaderMap;
  compression: PerMessageDeflateOptions | null;
  timeout: number;
  maxPayload: number;
  opts: ConnectOptions;
  /** The HTTP/1.1 client's negotiation checks on an answer's headers; throws a HandshakeError. */
  agree(res: HeaderSource): Agreement;
  /** The HTTP/1.1 upgrade, on a fresh connection. */
  fallback(): Promise<WebSocket>;
}

/** A pooled session to one origin: usable once `ready` resolves true (h2, extended CONNECT allowed). */
interface PoolEntry {
  readonly key: string | null;
  session: http2.ClientHttp2Session | null;
  readonly ready: Promise<boolean>;
  streams: number;
}

const pool = new Map<string, PoolEntry>();

/**
 * The pool key: origin plus the TLS settings that change who we would be talking to. Options that are
 * objects (a CA, a client certificate, a secure context, a checkServerIdentity) cannot be compared
 * cheaply: such attempts get a session of their own (null key), closed after its last stream.
 */
function poolKey(target: Target, opts: ConnectOptions): string | null {
  for (const k of TLS_KEYS) {
    if (k !== 'rejectUnauthorized' && k !== 'servername' && k !== 'minVersion' && k !== 'maxVersion' && opts[k] !== undefined) return null;
  }
  return [target.hostname, target.port, opts.rejectUnauthorized !== false, opts.servername ?? '', opts.minVersion ?? '', opts.maxVersion ?? ''].join('|');
}

function release(entry: PoolEntry): void {
  if (--entry.streams > 0) return;
  // Idle: close after the last stream, as a browser would after its idle timeout.
  if (entry.key !== null && pool.get(entry.key) === entry) pool.delete(entry.key);
  entry.session?.close();
}

function forget(entry: PoolEntry): void {
  if (entry.key !== null && pool.get(entry.key) === entry) pool.delete(entry.key);
}

/** A TLS connection offering h2 and http/1.1, then an HTTP/2 session on it if the server chose h2. */
function openSession(target: Target, opts: ConnectOptions, key: string | null): PoolEntry {
  let entry!: PoolEntry;
  const ready = new Promise<boolean>((resolve, reject) => {
    const tlsOptions: tls.ConnectionOptions = {
      host: target.hostname,
      port: target.port,
      ALPNProtocols: ['h2', 'http/1.1'],
    };
    if (isIP(target.hostname) === 0) tlsOptions.servername = target.hostname;
    const source = opts as Record<string, unknown>;
    const sink = tlsOptions as Record<string, unknown>;
    for (const k of TLS_KEYS) if (source[k] !== undefined) sink[k] = source[k];
    const socket = tls.connect(tlsOptions);
    const onError = (err: Error): void => {
      forget(entry);
      reject(err);
    };
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      socket.removeListener('error', onError);
      if (socket.alpnProtocol !== 'h2') {
        // An HTTP/1.1-only server: the upgrade goes on a fresh connection of its own.
        forget(entry);
        socket.destroy();
        resolve(false);
        return;
      }
      const session = http2.connect(`https://${target.host}`, {
        createConnection: () => socket,
        settings: { initialWindowSize: HTTP2_CLIENT_STREAM_WINDOW },
      });
      entry.session = session;
      // Sent right behind the SETTINGS, so the server's first flight is not held at 64 KiB already.
      if (session.connecting) session.once('connect', raiseConnectionWindow);
      else raiseConnectionWindow.call(session);
      session.on('error', () => forget(entry));
      session.once('close', () => {
        forget(entry);
        reject(new Error('The HTTP/2 session closed before its SETTINGS arrived'));
      });
      session.once('goaway', () => forget(entry));
      session.once('remoteSettings', (settings) => {
        if (settings.enableConnectProtocol === true) {
          resolve(true);
          return;
        }
        forget(entry);
        if (entry.streams === 0) session.close();
        resolve(false);
      });
    });
  });
  // Errors reach whoever awaits `ready`; a pooled entry nobody awaits any more must not crash anyone.
  ready.catch(() => undefined);
  entry = { key, session: null, ready, streams: 0 };
  if (key !== null) pool.set(key, entry);
  return entry;
}

function raiseConnectionWindow(this: http2.ClientHttp2Session): void {
  if (!this.destroyed) this.setLocalWindowSize(HTTP2_CLIENT_CONNECTION_WINDOW);
}

/** The caller's session: it must allow extended CONNECT; a PING round trip makes sure its SETTINGS were read. */
function givenSession(session: http2.ClientHttp2Session): PoolEntry {
  const ready = new Promise<boolean>((resolve, reject) => {
    if (session.closed || session.destroyed) {
      reject(new Error('The given HTTP/2 session is closed'));
      return;
    }
    if (session.remoteSettings.enableConnectProtocol === true) {
      resolve(true);
      return;
    }
    // The server's SETTINGS come first on the connection, so once a PING is answered they have been read.
    const check = (): void => {
      if (session.remoteSettings.enableConnectProtocol === true) resolve(true);
      else reject(new HandshakeError(0, 'The server does not allow WebSockets over this HTTP/2 session (SETTINGS_ENABLE_CONNECT_PROTOCOL is not 1)'));
    };
    const ping = (): void => {
      session.ping((err) => (err ? reject(err) : check()));
    };
    if (session.connecting) session.once('connect', ping);
    else ping();
  });
  ready.catch(() => undefined);
  return { key: null, session, ready, streams: 1 };
}

/** The extended CONNECT's headers: the HTTP/1.1 ones in lower case, less those HTTP/2 has no place for. */
function requestHeaders(a: Http2Attempt): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': a.target.secure ? 'https' : 'http',
    ':path': a.target.path,
    ':authority': a.target.host,
  };
  for (const name of Object.keys(a.headers)) {
    const lower = asciiLower(name);
    if (lower === 'host') out[':authority'] = a.headers[name];
    else if (!HTTP1_ONLY.has(lower)) out[lower] = a.headers[name];
  }
  return out;
}

function abortError(signal: AbortSignal): DOMException {
  const reason: unknown = signal.reason;
  if (reason instanceof DOMException && reason.name === 'AbortError') return reason;
  return new DOMException('The WebSocket connection attempt was aborted', { name: 'AbortError', cause: reason });
}

/**
 * @internal connect() over HTTP/2: a stream of the origin's pooled session (or the caller's session) when
 * the server allows extended CONNECT, else `attempt.fallback()`. Settles exactly once; the timeout and
 * the signal cover the session set-up and the answer, and they end the stream, never a shared session.
 */
export function connectHttp2(a: Http2Attempt): Promise<WebSocket> {
  const given = typeof a.opts.http2 === 'object' && a.opts.http2 !== null ? a.opts.http2 : null;
  if (given === null && !a.target.secure) return a.fallback();
  return new Promise<WebSocket>((resolve, reject) => {
    const signal = a.opts.signal;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let stream: http2.ClientHttp2Stream | null = null;
    let entry: PoolEntry;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const fail = (err: unknown): void => {
      if (!finish()) return;
      if (stream !== null) {
        stream.on('error', () => undefined);
        stream.close(http2.constants.NGHTTP2_CANCEL);
      } else if (given === null && entry.streams === 0) {
        // Nobody else waits on a session opened for this attempt alone.
        if (entry.key === null || pool.get(entry.key) !== entry) entry.session?.destroy();
      }
      reject(err);
    };
    const onAbort = (): void => fail(abortError(signal as AbortSignal));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (a.timeout > 0) {
      timer = setTimeout(() => fail(new HandshakeError(0, `The opening handshake timed out after ${a.timeout} ms`)), a.timeout);
    }

    if (given !== null) {
      entry = givenSession(given);
    } else {
      const key = poolKey(a.target, a.opts);
      const pooled = key !== null ? pool.get(key) : undefined;
      entry = pooled !== undefined && pooled.session?.destroyed !== true ? pooled : openSession(a.target, a.opts, key);
    }
    entry.ready.then(
      (usable) => {
        if (settled) return;
        if (!usable) {
          if (!finish()) return;
          a.fallback().then(resolve, reject);
          return;
        }
        openStream(entry);
      },
      (err: unknown) => fail(err),
    );

    const openStream = (e: PoolEntry): void => {
      const session = e.session as http2.ClientHttp2Session;
      let s: http2.ClientHttp2Stream;
      try {
        s = session.request(requestHeaders(a), { endStream: false });
      } catch (err) {
        fail(err);
        return;
      }
      stream = s;
      if (given === null) {
        e.streams++;
        s.once('close', () => release(e));
      }
      const onStreamError = (err: Error): void => fail(err);
      const onStreamClose = (): void =>
        fail(new HandshakeError(0, `The server reset the stream before answering (RST_STREAM ${s.rstCode})`));
      s.once('error', onStreamError);
      s.once('close', onStreamClose);
      s.once('response', (headers) => {
        if (settled) return;
        const status = Number(headers[':status']);
        if (status !== 200) {
          fail(new HandshakeError(status, `Unexpected server response: ${status}`));
          return;
        }
        let deflate: PerMessageDeflate | null = null;
        try {
          const agreed = a.agree({ headers });
          if (agreed.deflateParams !== null && a.compression !== null) {
            deflate = new PerMessageDeflate(agreed.deflateParams, a.compression, false);
          }
          const ws = new WebSocket(s, EMPTY, {
            isServer: false,
            protocol: agreed.protocol,
            extensions: agreed.extensions,
            maxPayload: a.maxPayload,
            deflate,
            keepAlive: a.opts.keepAlive,
            closeTimeout: a.opts.closeTimeout,
            maxBufferedAmount: a.opts.maxBufferedAmount,
          });
          if (!finish()) return;
          s.removeListener('error', onStreamError);
          s.removeListener('close', onStreamClose);
          resolve(ws);
        } catch (err) {
          deflate?.close();
          fail(err);
        }
      });
    };
  });
}
