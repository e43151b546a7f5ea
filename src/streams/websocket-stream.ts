// WHATWG streams over a connection, after the WebSocketStream explainer
// (https://github.com/ricea/websocketstream-explainer): code written for the browser's WebSocketStream runs
// on Node, client side and server side, with backpressure through the streams' own queues.
import type * as http from 'http';
import type * as stream from 'stream';
import { types } from 'util';
import { isValidCloseCode, MAX_CLOSE_REASON_BYTES } from '../codec/close-payload';
import type { WebSocket } from '../connection/websocket';
import { CloseCode, CloseError } from '../errors';
import { connect, type ConnectOptions } from '../handshake/client';
import { Upgrader, type UpgraderOptions } from '../handshake/server';

/** What a `WebSocketStream` writable accepts: strings go out as text, bytes as binary. */
export type WebSocketStreamChunk = string | ArrayBuffer | ArrayBufferView;

/** What `opened` resolves with: the two streams, and what the handshake agreed. */
export interface WebSocketStreamOpenInfo {
  /** Incoming messages: text as strings, binary as Uint8Array. Ends (closes) when the peer's Close arrives. */
  readable: ReadableStream<string | Uint8Array>;
  /** Outgoing messages. `close()` closes the connection; `abort(reason)` too, with the reason's code if it has one. */
  writable: WritableStream<WebSocketStreamChunk>;
  /** The subprotocol agreed, or ''. */
  protocol: string;
  /** The extensions agreed (the Sec-WebSocket-Extensions value), or ''. */
  extensions: string;
}

/** A close code and reason, as `close()` takes them and `closed` resolves with them. */
export interface WebSocketStreamCloseInfo {
  closeCode?: number;
  reason?: string;
}

/**
 * Options of a client `WebSocketStream`. Beyond the explainer's `protocols` and `signal`, the
 * {@link ConnectOptions} of `connect()` (headers, TLS, compression…) pass through.
 */
export interface WebSocketStreamOptions extends Omit<ConnectOptions, 'protocols' | 'signal'> {
  /** Subprotocols to offer, in order of preference. */
  protocols?: string | string[];
  /** Aborts the opening handshake (it has no effect once `opened` has resolved). */
  signal?: AbortSignal;
  /** Messages queued in the readable stream before reading from the socket pauses. Default 16. */
  readableHighWaterMark?: number;
  /** Messages queued in the writable stream before `writer.ready` waits. Default 1. */
  writableHighWaterMark?: number;
}

/** Options of {@link upgradeToWebSocketStream}: the stream's queue sizes and the 101 answer's extra headers. */
export interface WebSocketStreamServerOptions {
  /** Headers added to the 101 answer (see `Upgrader.upgrade`). */
  responseHeaders?: http.OutgoingHttpHeaders;
  /** See {@link WebSocketStreamOptions.readableHighWaterMark}. */
  readableHighWaterMark?: number;
  /** See {@link WebSocketStreamOptions.writableHighWaterMark}. */
  writableHighWaterMark?: number;
}

/**
 * The explainer's `WebSocketError` (named so here because wsflow's own `WebSocketError` is a protocol error):
 * a DOMException carrying a close code and reason. `closed` and `opened` reject with one, and passing one to
 * `writable.abort()` or `readable.cancel()` closes the connection with its code and reason.
 */
export class WebSocketStreamError extends DOMException {
  /** The close code to send or that was received; null when none applies (e.g. a failed handshake). */
  readonly closeCode: number | null;
  /** The close reason, possibly empty. */
  readonly reason: string;

  constructor(message = '', init: WebSocketStreamCloseInfo = {}) {
    super(message, 'WebSocketError');
    const { code, reason } = checkCloseInfo(init);
    this.closeCode = code ?? null;
    this.reason = reason;
  }

  /** An error describing a received close, whatever its code (no validation: 1006 and 1005 are reported, not sent). */
  static fromClose(code: number, reason: string, message: string): WebSocketStreamError {
    const err = new WebSocketStreamError(message);
    (err as { closeCode: number | null }).closeCode = code;
    (err as { reason: string }).reason = reason;
    return err;
  }
}

/**
 * The browser's rules for a close code and reason chosen by the application: the code must be 1000 or
 * 3000–4999 (the others belong to the protocol), the reason at most 123 UTF-8 bytes; a reason without a code
 * means 1000. Throws DOMExceptions InvalidAccessError / SyntaxError as browsers do.
 */
export function checkCloseInfo(
  info: WebSocketStreamCloseInfo,
  defaultCodeForReason = true,
): { code: number | undefined; reason: string } {
  let code = info.closeCode;
  const reason = info.reason ?? '';
  if (code !== undefined) {
    if (typeof code !== 'number' || !Number.isInteger(code) || (code !== 1000 && (code < 3000 || code > 4999))) {
      throw new DOMException(`The close code must be 1000 or between 3000 and 4999, got ${String(code)}`, 'InvalidAccessError');
    }
  }
  if (typeof reason !== 'string') throw new TypeError('The close reason must be a string');
  if (Buffer.byteLength(reason, 'utf8') > MAX_CLOSE_REASON_BYTES) {
    throw new DOMException(`The close reason must be at most ${MAX_CLOSE_REASON_BYTES} UTF-8 bytes`, 'SyntaxError');
  }
  if (code === undefined && reason !== '' && defaultCodeForReason) code = CloseCode.Normal;
  return { code, reason };
}

/** The code and reason to close with when a stream is cancelled/aborted with `reason`: only a valid WebSocketStreamError's count. */
function closeInfoFromReason(reason: unknown): { code: number; reason: string } {
  if (reason instanceof WebSocketStreamError && reason.closeCode !== null) {
    try {
      const checked = checkCloseInfo({ closeCode: reason.closeCode, reason: reason.reason });
      if (checked.code !== undefined) return { code: checked.code, reason: checked.reason };
    } catch {
      /* an invalid code or reason is ignored, as the explainer says: close normally */
    }
  }
  return { code: CloseCode.Normal, reason: '' };
}

function toPayload(chunk: unknown): string | Uint8Array {
  if (typeof chunk === 'string') return chunk;
  // util.types rather than instanceof: buffers from another realm (a vm context, a worker's transfer) count too.
  if (types.isAnyArrayBuffer(chunk)) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('A WebSocketStream writable takes a string, an ArrayBuffer or an ArrayBufferView');
}

/**
 * Parses a WebSocket URL as the browser's constructors do: http(s) becomes ws(s), any other scheme or a
 * fragment is a SyntaxError DOMException, thrown at once rather than reported through a promise.
 */
export function normalizeWebSocketUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    throw new DOMException(`Invalid URL: ${String(url)}`, 'SyntaxError');
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new DOMException(`The URL's scheme must be ws or wss, got ${u.protocol}`, 'SyntaxError');
  }
  if (u.hash !== '') throw new DOMException('The URL must not have a fragment', 'SyntaxError');
  return u.href;
}

// The connection a WebSocketStream is being built around, when it is not opened by the constructor itself.
let adopting: { connecting: Promise<WebSocket>; abort: (reason: unknown) => void } | null = null;

function noop(): void {
  /* a rejection someone may never look at */
}

/**
 * A WebSocket connection as a pair of WHATWG streams, with the browser's WebSocketStream API:
 * `new WebSocketStream(url, { protocols, signal })`, then `const { readable, writable } = await wss.opened`.
 * Backpressure is the streams' own: the readable pulls one message at a time from the connection, and a
 * write resolves once the socket can take more.
 *
 * Differences from the explainer: `close()` and a plain `writable.close()` without a code send 1000 rather
 * than a Close frame without a status code; extra {@link ConnectOptions} are accepted.
 */
export class WebSocketStream {
  /** The URL connected to (the request URL on the server side). */
  readonly url: string;
  /** Resolves once the handshake succeeded; rejects (with a WebSocketStreamError or AbortError) if it failed. */
  readonly opened: Promise<WebSocketStreamOpenInfo>;
  /**
   * Resolves with the close code and reason once the connection closed cleanly; rejects with a
   * WebSocketStreamError (closeCode 1006) when it did not, or with the handshake's error.
   */
  readonly closed: Promise<{ closeCode: number; reason: string }>;

  private ws: WebSocket | null = null;
  private pendingClose: { code: number | null; reason: string } | null = null;
  private readonly abortHandshake: (reason: unknown) => void;

  constructor(url: string | URL, options: WebSocketStreamOptions = {}) {
    let connecting: Promise<WebSocket>;
    if (adopting !== null) {
      this.url = String(url);
      connecting = adopting.connecting;
      this.abortHandshake = adopting.abort;
      adopting = null;
    } else {
      this.url = normalizeWebSocketUrl(url);
      const { protocols, signal, readableHighWaterMark: _r, writableHighWaterMark: _w, ...rest } = options;
      const controller = new AbortController();
      if (signal !== undefined) {
        if (signal.aborted) controller.abort(signal.reason);
        else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
      }
      this.abortHandshake = (reason) => controller.abort(reason);
      connecting = connect(this.url, {
        ...rest,
        protocols: typeof protocols === 'string' ? [protocols] : protocols,
        signal: controller.signal,
      });
    }
    const readableHighWaterMark = options.readableHighWaterMark ?? 16;
    const writableHighWaterMark = options.writableHighWaterMark ?? 1;

    let resolveClosed!: (info: { closeCode: number; reason: string }) => void;
    let rejectClosed!: (err: unknown) => void;
    this.closed = new Promise((resolve, reject) => {
      resolveClosed = resolve;
      rejectClosed = reject;
    });
    this.opened = connecting.then(
      (ws) => {
        this.ws = ws;
        const streams = this.attach(ws, readableHighWaterMark, writableHighWaterMark, resolveClosed, rejectClosed);
        if (this.pendingClose !== null) void ws.close(this.pendingClose.code, this.pendingClose.reason).catch(noop);
        return streams;
      },
      (err: unknown) => {
        const error =
          err instanceof DOMException ? err : new WebSocketStreamError(err instanceof Error ? err.message : String(err));
        rejectClosed(error);
        throw error;
      },
    );
    // Rejections nobody asked about must not crash the process: the browser does not throw them either.
    this.opened.catch(noop);
    this.closed.catch(noop);
  }

  /**
   * Wraps a connection made elsewhere (by `connect()`, an `Upgrader`, a `WebSocketServer` handler), or one
   * still being made, so that the same stream code serves both sides.
   */
  static from(ws: WebSocket | Promise<WebSocket>, options: Pick<WebSocketStreamOptions, 'readableHighWaterMark' | 'writableHighWaterMark'> & { url?: string } = {}): WebSocketStream {
    const connecting = Promise.resolve(ws);
    adopting = {
      connecting,
      abort: () => {
        void connecting.then((w) => w.terminate(), noop);
      },
    };
    try {
      return new WebSocketStream(options.url ?? '', options);
    } finally {
      adopting = null;
    }
  }

  /**
   * Starts the closing handshake (or aborts the opening one). Validates like the browser: the code must be
   * 1000 or 3000–4999 (InvalidAccessError), the reason at most 123 UTF-8 bytes (SyntaxError).
   */
  close(info: WebSocketStreamCloseInfo = {}): void {
    const checked = checkCloseInfo(info);
    // No code: a Close without a status, which the peer reports as 1005, as a browser's close() does.
    const code = checked.code ?? null;
    if (this.ws === null) {
      this.pendingClose = { code, reason: checked.reason };
      this.abortHandshake(new WebSocketStreamError('The connection was closed before it opened', { closeCode: code ?? undefined, reason: checked.reason }));
      return;
    }
    void this.ws.close(code, checked.reason).catch(noop);
  }

  private attach(
    ws: WebSocket,
    readableHighWaterMark: number,
    writableHighWaterMark: number,
    resolveClosed: (info: { closeCode: number; reason: string }) => void,
    rejectClosed: (err: unknown) => void,
  ): WebSocketStreamOpenInfo {
    const closeWith = (reason: unknown): void => {
      const { code, reason: text } = closeInfoFromReason(reason);
      void ws.close(code, text).catch(noop);
    };
    const readable = new ReadableStream<string | Uint8Array>(
      {
        pull: async (controller) => {
          try {
            const m = await ws.readMessage();
            // A copy: the received Buffer may share its ArrayBuffer with other data.
            controller.enqueue(m.type === 'text' ? m.data.toString('utf8') : new Uint8Array(m.data));
          } catch (err) {
            if (err instanceof CloseError && err.code !== CloseCode.Abnormal) controller.close();
            else controller.error(toStreamError(err));
          }
        },
        cancel: closeWith,
      },
      new CountQueuingStrategy({ highWaterMark: readableHighWaterMark }),
    );
    let writableController: WritableStreamDefaultController | null = null;
    const writable = new WritableStream<WebSocketStreamChunk>(
      {
        start: (controller) => {
          writableController = controller;
        },
        write: async (chunk) => {
          try {
            await ws.writeMessage(toPayload(chunk));
          } catch (err) {
            throw toStreamError(err);
          }
        },
        // Closing the writable is the end of the conversation: wait for the closing handshake, as the explainer does.
        close: async () => {
          await ws.close(CloseCode.Normal);
        },
        abort: closeWith,
      },
      new CountQueuingStrategy({ highWaterMark: writableHighWaterMark }),
    );
    ws.once('close', (info: { code: number; reason: string; wasClean: boolean }) => {
      // Nothing more can be sent: a writer waiting for `ready` must not wait forever.
      writableController?.error(WebSocketStreamError.fromClose(info.code, info.reason, 'The WebSocket connection is closed'));
      if (info.wasClean) resolveClosed({ closeCode: info.code, reason: info.reason });
      else rejectClosed(WebSocketStreamError.fromClose(info.code, info.reason, 'The WebSocket connection was not closed cleanly'));
    });
    return { readable, writable, protocol: ws.protocol, extensions: ws.extensions };
  }
}

function toStreamError(err: unknown): Error {
  if (err instanceof CloseError) return WebSocketStreamError.fromClose(err.code, err.reason, err.message);
  if (err instanceof Error && 'closeCode' in err && typeof (err as { closeCode: unknown }).closeCode === 'number') {
    const code = (err as { closeCode: number }).closeCode;
    return WebSocketStreamError.fromClose(isValidCloseCode(code) ? code : CloseCode.Abnormal, '', err.message);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * The server side of {@link WebSocketStream}: upgrades an HTTP 'upgrade' request and returns a WebSocketStream
 * at once, whose `opened` resolves when the handshake is done (or rejects with the handshake's error, which
 * has already been answered). `upgrader` is an {@link Upgrader} to share, or the options of a new one.
 */
export function upgradeToWebSocketStream(
  req: http.IncomingMessage,
  socket: stream.Duplex,
  head: Buffer,
  upgrader: Upgrader | UpgraderOptions = {},
  options: WebSocketStreamServerOptions = {},
): WebSocketStream {
  const u = upgrader instanceof Upgrader ? upgrader : new Upgrader(upgrader);
  const host = typeof req.headers.host === 'string' ? req.headers.host : 'localhost';
  const encrypted = (socket as stream.Duplex & { encrypted?: boolean }).encrypted === true;
  return WebSocketStream.from(u.upgrade(req, socket, head, options.responseHeaders), {
    url: `${encrypted ? 'wss' : 'ws'}://${host}${req.url ?? '/'}`,
    readableHighWaterMark: options.readableHighWaterMark,
    writableHighWaterMark: options.writableHighWaterMark,
  });
}
