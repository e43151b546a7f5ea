// The browser's WebSocket API over a wsflow connection, so that code written for browsers (or for `ws`'s
// standard-API subset) runs unchanged on Node — client side, and server side through `WebSocket.from(ws)`.
import { types } from 'util';
import type { WebSocket as WsflowWebSocket, CloseInfo, Message } from '../connection/websocket';
import { CloseCode, CloseError } from '../errors';
import { connect, type ConnectOptions } from '../handshake/client';
import { checkCloseInfo, normalizeWebSocketUrl } from '../streams/websocket-stream';

/**
 * How binary messages are delivered: `'nodebuffer'` (a Buffer — the default, as in `ws`, since it costs no
 * copy), `'arraybuffer'` (an ArrayBuffer holding exactly the message) or `'blob'` (a Blob — the browser default).
 */
export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'blob';

/** What `send()` takes: strings go out as text, everything else as binary. */
export type SendData = string | ArrayBufferLike | ArrayBufferView | Blob;

/** Fields of a {@link CloseEvent}. */
export interface CloseEventInit {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
  code?: number;
  reason?: string;
  wasClean?: boolean;
}

/**
 * The browser's CloseEvent, which Node 20 lacks: `code` and `reason` are the peer's (1005 when it sent no
 * code, 1006 when the connection was lost without a Close frame); `wasClean` says whether the closing
 * handshake completed.
 */
export class CloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;

  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
  }
}

/** Options beyond the browser's: those of `connect()` (headers, TLS, compression, timeouts…). */
export type StandardWebSocketOptions = Omit<ConnectOptions, 'protocols'>;

type Handler<E extends Event> = ((this: WebSocket, ev: E) => unknown) | null;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const enum ReadyState {
  Connecting = 0,
  Open = 1,
  Closing = 2,
  Closed = 3,
}

function noop(): void {
  /* failures of fire-and-forget sends surface as the 'close' event */
}

// By tag rather than instanceof, so that a Blob (or ArrayBuffer) from another realm is recognised too.
function isBlob(value: unknown): value is Blob {
  return Object.prototype.toString.call(value) === '[object Blob]' || value instanceof Blob;
}

function byteLengthOf(data: SendData): number {
  if (typeof data === 'string') return Buffer.byteLength(data, 'utf8');
  if (isBlob(data)) return data.size;
  return data.byteLength;
}

function toBytes(data: Exclude<SendData, Blob>): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

async function toPayload(data: SendData): Promise<string | Uint8Array> {
  return isBlob(data) ? new Uint8Array(await data.arrayBuffer()) : toBytes(data);
}

/**
 * A WebSocket with the browser's API — an EventTarget with `onopen`/`onmessage`/`onerror`/`onclose`,
 * `readyState`, `bufferedAmount`, `binaryType`, `send()` and `close()` — over a wsflow connection.
 *
 * There is no backpressure in this API (as in browsers): messages are dispatched as fast as they arrive,
 * and `send()` queues without limit; watch `bufferedAmount`, or use the wsflow WebSocket or
 * WebSocketStream when that matters.
 */
export class WebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;

  private readonly _url: string;
  private _readyState: ReadyState = ReadyState.Connecting;
  private _binaryType: BinaryType = 'nodebuffer';
  private ws: WsflowWebSocket | null = null;
  private readonly abortController: AbortController | null;
  private queuedBytes = 0;
  // Sends wait here while a Blob ahead of them is being read, so that messages keep their order.
  private readonly sendQueue: SendData[] = [];
  private readonly handlers = new Map<string, Handler<Event>>();
  private failed = false;

  /**
   * Opens a client connection. Throws a SyntaxError DOMException for a bad URL or bad subprotocols, as
   * browsers do; a failed handshake fires 'error' then 'close' (1006).
   */
  constructor(url: string | URL, protocols?: string | string[], options?: StandardWebSocketOptions);
  /** @internal Wraps an open connection: see {@link WebSocket.from}. */
  constructor(url: string | URL, protocols: string | string[] | undefined, options: StandardWebSocketOptions | undefined, adopt: WsflowWebSocket);
  constructor(url: string | URL, protocols: string | string[] = [], options: StandardWebSocketOptions = {}, adopt?: WsflowWebSocket) {
    super();
    if (adopt !== undefined) {
      this._url = String(url);
      this.abortController = null;
      this.adopt(adopt);
      return;
    }
    this._url = normalizeWebSocketUrl(url);
    const list = typeof protocols === 'string' ? [protocols] : [...protocols];
    const seen = new Set<string>();
    for (const p of list) {
      if (typeof p !== 'string' || !TOKEN.test(p) || seen.has(p)) {
        throw new DOMException(`Invalid or duplicate subprotocol ${JSON.stringify(p)}`, 'SyntaxError');
      }
      seen.add(p);
    }
    const controller = new AbortController();
    this.abortController = controller;
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) controller.abort(signal.reason);
      else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
    }
    connect(this._url, { ...options, protocols: list, signal: controller.signal }).then(
      (ws) => {
        if (this._readyState !== ReadyState.Connecting) {
          // close() was called while connecting and the handshake won the race.
          ws.terminate();
          return;
        }
        this.adopt(ws);
        this.dispatchEvent(new Event('open'));
        this.startReading();
      },
      () => this.failHandshake(),
    );
  }

  /**
   * Wraps a connection wsflow already opened — typically the one a `WebSocketServer` or `Upgrader` hands to a
   * server handler — so that server code can use the same API. It is OPEN at once and fires no 'open';
   * messages start being dispatched after the current synchronous code, so attach `onmessage` right away.
   */
  static from(ws: WsflowWebSocket, url = ''): WebSocket {
    return new WebSocket(url, undefined, undefined, ws);
  }

  /** The URL, after resolution (http: becomes ws:). Empty for a wrapped server connection unless given. */
  get url(): string {
    return this._url;
  }
  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): number {
    return this._readyState;
  }
  /** Bytes passed to `send()` and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.queuedBytes + (this.ws?.bufferedAmount ?? 0);
  }
  /** The subprotocol the server chose, or '' (also while connecting). */
  get protocol(): string {
    return this.ws?.protocol ?? '';
  }
  /** The extensions agreed, or '' (also while connecting). */
  get extensions(): string {
    return this.ws?.extensions ?? '';
  }
  /** See {@link BinaryType}. Assigning anything else is ignored, as in browsers. */
  get binaryType(): BinaryType {
    return this._binaryType;
  }
  set binaryType(value: BinaryType) {
    if (value === 'nodebuffer' || value === 'arraybuffer' || value === 'blob') this._binaryType = value;
  }

  get onopen(): Handler<Event> {
    return this.handlers.get('open') ?? null;
  }
  set onopen(handler: Handler<Event>) {
    this.setHandler('open', handler);
  }
  get onmessage(): Handler<MessageEvent> {
    return (this.handlers.get('message') as Handler<MessageEvent> | undefined) ?? null;
  }
  set onmessage(handler: Handler<MessageEvent>) {
    this.setHandler('message', handler as Handler<Event>);
  }
  get onerror(): Handler<Event> {
    return this.handlers.get('error') ?? null;
  }
  set onerror(handler: Handler<Event>) {
    this.setHandler('error', handler);
  }
  get onclose(): Handler<CloseEvent> {
    return (this.handlers.get('close') as Handler<CloseEvent> | undefined) ?? null;
  }
  set onclose(handler: Handler<CloseEvent>) {
    this.setHandler('close', handler as Handler<Event>);
  }

  /**
   * Queues a message: a string as text; a Buffer, ArrayBuffer, typed array, DataView or Blob as binary.
   * Throws InvalidStateError while CONNECTING; after close() it is silently dropped, as in browsers.
   */
  send(data: SendData): void {
    if (this._readyState === ReadyState.Connecting) {
      throw new DOMException('send() was called while the WebSocket is still connecting', 'InvalidStateError');
    }
    const valid =
      typeof data === 'string' ||
      isBlob(data) ||
      ArrayBuffer.isView(data) ||
      types.isAnyArrayBuffer(data);
    if (!valid) throw new TypeError('send() takes a string, an ArrayBuffer, an ArrayBufferView or a Blob');
    if (this._readyState !== ReadyState.Open || this.ws === null) return;
    if (this.sendQueue.length === 0 && !isBlob(data)) {
      this.ws.writeMessage(toBytes(data)).catch(noop);
      return;
    }
    this.queuedBytes += byteLengthOf(data);
    this.sendQueue.push(data);
    if (this.sendQueue.length === 1) void this.flush();
  }

  /**
   * Starts the closing handshake (or abandons the opening one). Throws InvalidAccessError unless `code` is
   * 1000 or 3000–4999, and SyntaxError for a reason over 123 UTF-8 bytes. Without a code, 1000 is sent.
   */
  close(code?: number, reason?: string): void {
    const checked = checkCloseInfo({ closeCode: code, reason });
    if (this._readyState === ReadyState.Closing || this._readyState === ReadyState.Closed) return;
    if (this._readyState === ReadyState.Connecting) {
      this._readyState = ReadyState.Closing;
      this.abortController?.abort(new DOMException('close() was called before the connection opened', 'AbortError'));
      return;
    }
    this._readyState = ReadyState.Closing;
    // No code: a Close without a status, which the peer reports as 1005, as browsers do.
    this.ws?.close(checked.code ?? null, checked.reason).catch(noop);
  }

  private setHandler(type: string, handler: Handler<Event>): void {
    const value = typeof handler === 'function' ? handler : null;
    if (!this.handlers.has(type)) {
      // Registered once, when first set: the handler keeps its place among the listeners, as in browsers.
      this.addEventListener(type, (ev) => {
        const current = this.handlers.get(type);
        if (typeof current === 'function') current.call(this, ev);
      });
    }
    this.handlers.set(type, value);
  }

  private adopt(ws: WsflowWebSocket): void {
    this.ws = ws;
    this._readyState = ws.readyState === 'open' ? ReadyState.Open : ws.readyState === 'closing' ? ReadyState.Closing : ReadyState.Closed;
    ws.once('close', (info: CloseInfo) => this.onClosed(info));
    if (this.abortController === null) queueMicrotask(() => this.startReading());
  }

  private startReading(): void {
    const ws = this.ws;
    if (ws === null) return;
    const origin = this.originOf();
    void (async () => {
      for (;;) {
        let message: Message;
        try {
          message = await ws.readMessage();
        } catch (err) {
          // A Close frame ends the messages; anything else is the connection failing.
          if (!(err instanceof CloseError)) this.failed = true;
          return;
        }
        if (this._readyState === ReadyState.Closed) return;
        this.dispatchEvent(new MessageEvent('message', { data: this.decode(message), origin }));
      }
    })();
  }

  private decode(message: Message): string | Buffer | ArrayBuffer | Blob {
    if (message.type === 'text') return message.data.toString('utf8');
    const data = message.data;
    switch (this._binaryType) {
      case 'arraybuffer':
        return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
      case 'blob':
        return new Blob([data]);
      default:
        return data;
    }
  }

  private originOf(): string {
    try {
      return new URL(this._url).origin;
    } catch {
      return '';
    }
  }

  // Runs while the queue is non-empty; `send()` starts it when it queues the first item.
  private async flush(): Promise<void> {
    try {
      while (this.sendQueue.length > 0) {
        const data = this.sendQueue[0] as SendData;
        const payload = await toPayload(data);
        if (this.sendQueue[0] !== data) return; // cleared by the close meanwhile
        this.sendQueue.shift();
        this.queuedBytes -= byteLengthOf(data);
        if (this.ws === null || this._readyState !== ReadyState.Open) continue;
        this.ws.writeMessage(payload).catch(noop);
      }
    } catch {
      // A Blob that cannot be read: the browser fails the connection.
      this.sendQueue.length = 0;
      this.queuedBytes = 0;
      this.ws?.close(CloseCode.InternalError, 'A Blob could not be read').catch(noop);
    }
  }

  private failHandshake(): void {
    if (this._readyState === ReadyState.Closed) return;
    this._readyState = ReadyState.Closed;
    this.dispatchEvent(new Event('error'));
    this.dispatchEvent(new CloseEvent('close', { code: CloseCode.Abnormal, reason: '', wasClean: false }));
  }

  private onClosed(info: CloseInfo): void {
    this._readyState = ReadyState.Closed;
    this.sendQueue.length = 0;
    this.queuedBytes = 0;
    // Browsers report a failed connection (protocol error, connection lost) with 'error' before 'close'.
    if (this.failed || info.code === CloseCode.Abnormal) this.dispatchEvent(new Event('error'));
    this.dispatchEvent(new CloseEvent('close', { code: info.code, reason: info.reason, wasClean: info.wasClean }));
  }
}
