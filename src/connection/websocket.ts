import { EventEmitter } from 'events';
import { Socket } from 'net';
import { Readable, Writable } from 'stream';
import type { Duplex } from 'stream';
import { buildClosePayload, closeCodeFor, isValidCloseCode } from '../codec/close-payload';
import { MAX_CONTROL_PAYLOAD, Opcode } from '../codec/frame';
import { DEFAULT_MAX_PAYLOAD, FrameParser } from '../codec/frame-parser';
import { toBuffer } from '../codec/buffers';
import { CloseCode, CloseError, WebSocketError } from '../errors';
import { PreparedMessage } from './prepared-message';
import type { PerMessageDeflate } from '../extensions/permessage-deflate';
import { Heartbeat, HeartbeatHost, KeepAliveOptions } from './keepalive';
import { MessageReader, MessageWriter, MessageWriterHost } from './message-streams';
import { MessageStreamTarget, MessageType, Receiver } from './receiver';
import { Sender } from './sender';
import { dropTransport, isDropError } from './drop';

export type { MessageType } from './receiver';
export { MessageReader, MessageWriter } from './message-streams';

/** A whole data message. Text messages hold UTF-8 bytes, already validated. */
export interface Message {
  type: MessageType;
  data: Buffer;
}

/** How a connection ended: the peer's close code and reason (1005: none given; 1006: no Close frame at all). */
export interface CloseInfo {
  code: number;
  reason: string;
  /** True when both Close frames were exchanged before the TCP connection ended. */
  wasClean: boolean;
}

/** Per-message options of `writeMessage`. */
export interface WriteOptions {
  /** Set false to send this message uncompressed even when permessage-deflate is on. */
  compress?: boolean;
}

/** Settings of one connection, filled in by the handshake. */
export interface WebSocketOptions {
  isServer: boolean;
  /** Subprotocol agreed in the handshake ('' for none). */
  protocol?: string;
  /** Sec-WebSocket-Extensions value agreed in the handshake ('' for none). */
  extensions?: string;
  /** Largest message accepted, in bytes (and largest frame of a streamed message). Default 64 MiB. */
  maxPayload?: number;
  /** The agreed permessage-deflate, if any. */
  deflate?: PerMessageDeflate | null;
  /** Ping every `interval` ms; terminate when no pong came `timeout` ms after a ping. */
  keepAlive?: KeepAliveOptions | false;
  /** How long to wait for the peer's Close (and, on the client, the TCP close) before terminating. Default 5000 ms. */
  closeTimeout?: number;
  /** Close with 1008 when more than this many bytes wait to be sent. Default: no limit. */
  maxBufferedAmount?: number;
}

/** @internal Results of WebSocket.deliverPrepared(). */
export const DELIVER_SKIPPED = 0;
/** @internal */
export const DELIVER_QUEUED = 1;
/** @internal */
export const DELIVER_OVER_LIMIT = 2;

/** The default close timeout, in milliseconds. */
export const DEFAULT_CLOSE_TIMEOUT = 5000;

// writeMessage() resolves at once while fewer bytes than this wait to be sent (see afterSend). Above Node's
// 16 KiB socket high-water mark so that a loop that awaits each write batches a tick's messages into one
// writev, as the event idiom does, instead of waiting for a 'drain' per 64 KiB message; small enough that
// a connection whose peer stops reading holds a bounded amount (ws and the event idiom hold everything).
const WRITE_HIGH_WATER_MARK = 256 * 1024;

// Whole messages waiting to be read before the socket is paused.
const INBOX_HIGH_WATER_MARK = 16;

/**
 * A protocol error found after messages the application has not read yet fails the connection once they are
 * read, or after this many milliseconds at the latest (see `deferFailure`).
 */
const PROTOCOL_ERROR_GRACE = 250;

// Automatic pongs written but not yet flushed. Reading pauses while the socket is full, so a peer
// that pings without reading normally stalls itself long before this; past it, it is a flooder (ws 8.23).
const MAX_PENDING_PONGS = 1024;

const enum State {
  Open,
  Closing,
  Closed,
}

// A protocol error waiting for the messages received before it to be read (see deferFailure).
interface DeferredFailure {
  err: WebSocketError;
  timer: NodeJS.Timeout;
  checkScheduled: boolean;
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

// WebSocket.bufferLimit when no maxBufferedAmount is set.
const NO_BUFFER_LIMIT = -1;

// The payload of the heartbeat's pings (never written to: the sender only reads payloads).
const EMPTY_PAYLOAD = Buffer.alloc(0);

// The inbox of every connection until its first queued message: shared, only ever read (an array per
// idle connection is memory for nothing). handleMessage swaps in an array of its own before pushing.
const NO_MESSAGES: Message[] = [];

// The resolve function of the latest promise made with `new Promise(captureResolve)`: one shared executor
// instead of a closure per parked reader. Read it right after the constructor returns. Only resolve is
// kept (a rejection is a resolve with a rejected promise): a parked reader holds one function, not two.
let capturedResolve: (value: never) => void = () => undefined;
function captureResolve(resolve: (value: never) => void): void {
  capturedResolve = resolve;
}

/**
 * A reader parked until a message arrives: a `readMessage()` call, or the async iterator (which is its
 * own parked reader, so a `for await` loop allocates nothing per wait beyond the promise it awaits).
 */
interface ParkedReader {
  /** Resolves the promise the reader awaits; null while it is not parked. */
  resolve: ((value: never) => void) | null;
  /** The iterator this reader waits for (it takes an IteratorResult, and a close ends it quietly), or null. */
  readonly owner: MessageIterator | null;
}

/** A parked `readMessage()` (or a second `next()` of an iterator already parked). */
class ReadWaiter implements ParkedReader {
  resolve: ((value: never) => void) | null = capturedResolve;
  constructor(readonly owner: MessageIterator | null) {}
}

function deliverTo(reader: ParkedReader, message: Message): void {
  const resolve = reader.resolve as (value: Message | IteratorResult<Message, void>) => void;
  reader.resolve = null;
  resolve(reader.owner !== null ? { value: message, done: false } : message);
}

function endReader(reader: ParkedReader, err: Error): void {
  const resolve = reader.resolve as (value: Promise<never>) => void;
  reader.resolve = null;
  // An iterator throws a failure once, then says done.
  if (reader.owner !== null) reader.owner.finished = true;
  resolve(Promise.reject(err));
}

function finishReader(reader: ParkedReader): void {
  const resolve = reader.resolve as (value: IteratorResult<Message, void>) => void;
  if (reader.owner !== null) reader.owner.finished = true;
  reader.resolve = null;
  resolve({ value: undefined, done: true });
}

/**
 * The state of a connection that an idle one does not need: made on first use (a close, a failure, a stream,
 * a queue of waiting callers, a non-default setting), so a parked connection carries one null field instead.
 */
class Cold {
  readableStream: Readable | null = null;
  writableStream: Writable | null = null;
  failure: WebSocketError | null = null;
  // A protocol error waiting for the messages received before it to be read (see deferFailure).
  deferred: DeferredFailure | null = null;
  closeTimer: NodeJS.Timeout | null = null;
  closeInfo: CloseInfo | null = null;
  closeTimeout = DEFAULT_CLOSE_TIMEOUT;
  peerCode: number = CloseCode.Abnormal;
  peerReason = '';
  closeWaiters: Array<(info: CloseInfo) => void> | null = null;
  moreReaders: ParkedReader[] | null = null;
  readerWaiters: Array<Waiter<{ type: MessageType; stream: Readable }>> | null = null;
  drainWaiters: Array<Waiter<void>> | null = null;
  // Outgoing messages take turns: a streaming writer holds the turn (channelBusy) until it ends.
  channelQueue: Array<() => void> | null = null;
  pingHandler: ((payload: Buffer) => void) | null = null;
  pendingPongs = 0;
  onPongFlushed: (() => void) | null = null;
}

// Bits of WebSocket.flags.
const enum Flag {
  StateBits = 3,
  InboxEnded = 4,
  ReadableWants = 8,
  CloseSent = 16,
  CloseReceived = 32,
  ChannelBusy = 64,
  DrainListening = 128,
  IsServer = 256,
}

// The connection a socket belongs to. Socket listeners are shared functions that look it up here,
// instead of five closures per connection.
const kWebSocket = Symbol('wsflow.websocket');
type OwnedSocket = Duplex & { [kWebSocket]?: WebSocket };

function socketOnData(this: OwnedSocket, chunk: Buffer): void {
  this[kWebSocket]?.handleSocketData(chunk);
}
function socketOnEnd(this: OwnedSocket): void {
  this[kWebSocket]?.handleSocketEnd();
}
function socketOnClose(this: OwnedSocket): void {
  this[kWebSocket]?.handleSocketClose();
}
function socketOnError(this: OwnedSocket, err: Error): void {
  this[kWebSocket]?.handleSocketError(err);
}
function socketOnDrain(this: OwnedSocket): void {
  this[kWebSocket]?.handleDrain();
}
function checkDeferredFailure(ws: WebSocket): void {
  ws.handleDeferredCheck();
}
function failDeferred(ws: WebSocket): void {
  ws.failDeferred();
}

/** The events of a {@link WebSocket}, with their arguments. */
export interface WebSocketEvents {
  message: [data: Buffer, type: MessageType];
  ping: [payload: Buffer];
  pong: [payload: Buffer];
  close: [info: CloseInfo];
  error: [err: Error];
}

// Typed listeners for the events above; other names fall back to EventEmitter's signature.
export interface WebSocket {
  on<K extends keyof WebSocketEvents>(event: K, listener: (...args: WebSocketEvents[K]) => void): this;
  on(event: string | symbol, listener: (...args: unknown[]) => void): this;
  once<K extends keyof WebSocketEvents>(event: K, listener: (...args: WebSocketEvents[K]) => void): this;
  once(event: string | symbol, listener: (...args: unknown[]) => void): this;
  off<K extends keyof WebSocketEvents>(event: K, listener: (...args: WebSocketEvents[K]) => void): this;
  off(event: string | symbol, listener: (...args: unknown[]) => void): this;
}

/**
 * One WebSocket connection, server or client side. Messages come in through `readable` (or
 * `readMessage()`, the async iterator, `nextReader()`) and go out through `writable` (or
 * `writeMessage()`, `nextWriter()`), with backpressure from end to end.
 *
 * Events: 'message' (data, type) — while someone listens, every message goes to it instead of
 * `readable`/`readMessage()`, without backpressure; 'ping' (payload), 'pong' (payload), 'close'
 * ({@link CloseInfo}), 'error' (only emitted when someone listens: an error never crashes the process).
 */
export class WebSocket extends EventEmitter implements HeartbeatHost {
  /** The subprotocol agreed in the handshake, or ''. */
  readonly protocol: string;
  /** The extensions agreed in the handshake (the Sec-WebSocket-Extensions value), or ''. */
  readonly extensions: string;

  private readonly socket: Duplex;
  private readonly parser: FrameParser;
  private readonly receiver: Receiver;
  private readonly sender: Sender;
  private readonly deflate: PerMessageDeflate | null;
  // maxBufferedAmount, or NO_BUFFER_LIMIT: a small integer, where Infinity would be a heap number per connection.
  private readonly bufferLimit: number;
  private readonly heartbeat: Heartbeat | null;

  // Messages received and not yet read (the shared empty inbox until the first one is queued).
  private inbox: Message[] = NO_MESSAGES;
  // The state (two low bits) and the booleans (Flag: inboxEnded, closeSent…) in one field: an idle connection
  // is mostly its fields.
  private flags = State.Open;
  // Parked readers in arrival order: the first in a field (the common case is one reader), the rest in `cold`.
  private reader: ParkedReader | null = null;
  // What only a closing, failing, streaming or queueing connection needs, made on first use (see Cold).
  private cold: Cold | null = null;
  /** @internal Links of the server's list of open connections (see open-connections.ts for why not a Set). */
  listPrev: WebSocket | null = null;
  /** @internal */
  listNext: WebSocket | null = null;

  // The fields kept in Cold, read and written as if they were the connection's own; writing a default value
  // while there is no Cold makes none.
  private get more(): Cold {
    return (this.cold ??= new Cold());
  }

  private get readableStream(): Readable | null {
    return this.cold !== null ? this.cold.readableStream : null;
  }
  private set readableStream(value: Readable | null) {
    if (this.cold !== null || value !== null) this.more.readableStream = value;
  }

  private get writableStream(): Writable | null {
    return this.cold !== null ? this.cold.writableStream : null;
  }
  private set writableStream(value: Writable | null) {
    if (this.cold !== null || value !== null) this.more.writableStream = value;
  }

  private get failure(): WebSocketError | null {
    return this.cold !== null ? this.cold.failure : null;
  }
  private set failure(value: WebSocketError | null) {
    if (this.cold !== null || value !== null) this.more.failure = value;
  }

  private get deferred(): DeferredFailure | null {
    return this.cold !== null ? this.cold.deferred : null;
  }
  private set deferred(value: DeferredFailure | null) {
    if (this.cold !== null || value !== null) this.more.deferred = value;
  }

  private get closeTimer(): NodeJS.Timeout | null {
    return this.cold !== null ? this.cold.closeTimer : null;
  }
  private set closeTimer(value: NodeJS.Timeout | null) {
    if (this.cold !== null || value !== null) this.more.closeTimer = value;
  }

  private get closeInfo(): CloseInfo | null {
    return this.cold !== null ? this.cold.closeInfo : null;
  }
  private set closeInfo(value: CloseInfo | null) {
    if (this.cold !== null || value !== null) this.more.closeInfo = value;
  }

  private get closeTimeout(): number {
    return this.cold !== null ? this.cold.closeTimeout : DEFAULT_CLOSE_TIMEOUT;
  }
  private set closeTimeout(value: number) {
    if (this.cold !== null || value !== DEFAULT_CLOSE_TIMEOUT) this.more.closeTimeout = value;
  }

  private get peerCode(): number {
    return this.cold !== null ? this.cold.peerCode : CloseCode.Abnormal;
  }
  private set peerCode(value: number) {
    if (this.cold !== null || value !== CloseCode.Abnormal) this.more.peerCode = value;
  }

  private get peerReason(): string {
    return this.cold !== null ? this.cold.peerReason : '';
  }
  private set peerReason(value: string) {
    if (this.cold !== null || value !== '') this.more.peerReason = value;
  }

  private get closeWaiters(): Array<(info: CloseInfo) => void> | null {
    return this.cold !== null ? this.cold.closeWaiters : null;
  }
  private set closeWaiters(value: Array<(info: CloseInfo) => void> | null) {
    if (this.cold !== null || value !== null) this.more.closeWaiters = value;
  }

  private get moreReaders(): ParkedReader[] | null {
    return this.cold !== null ? this.cold.moreReaders : null;
  }
  private set moreReaders(value: ParkedReader[] | null) {
    if (this.cold !== null || value !== null) this.more.moreReaders = value;
  }

  private get readerWaiters(): Array<Waiter<{ type: MessageType; stream: Readable }>> | null {
    return this.cold !== null ? this.cold.readerWaiters : null;
  }
  private set readerWaiters(value: Array<Waiter<{ type: MessageType; stream: Readable }>> | null) {
    if (this.cold !== null || value !== null) this.more.readerWaiters = value;
  }

  private get drainWaiters(): Array<Waiter<void>> | null {
    return this.cold !== null ? this.cold.drainWaiters : null;
  }
  private set drainWaiters(value: Array<Waiter<void>> | null) {
    if (this.cold !== null || value !== null) this.more.drainWaiters = value;
  }

  private get channelQueue(): Array<() => void> | null {
    return this.cold !== null ? this.cold.channelQueue : null;
  }
  private set channelQueue(value: Array<() => void> | null) {
    if (this.cold !== null || value !== null) this.more.channelQueue = value;
  }

  private get pingHandler(): ((payload: Buffer) => void) | null {
    return this.cold !== null ? this.cold.pingHandler : null;
  }
  private set pingHandler(value: ((payload: Buffer) => void) | null) {
    if (this.cold !== null || value !== null) this.more.pingHandler = value;
  }

  private get pendingPongs(): number {
    return this.cold !== null ? this.cold.pendingPongs : 0;
  }
  private set pendingPongs(value: number) {
    if (this.cold !== null || value !== 0) this.more.pendingPongs = value;
  }

  private get onPongFlushed(): (() => void) | null {
    return this.cold !== null ? this.cold.onPongFlushed : null;
  }
  private set onPongFlushed(value: (() => void) | null) {
    if (this.cold !== null || value !== null) this.more.onPongFlushed = value;
  }

  /** True on the server side of the connection. */
  get isServer(): boolean {
    return (this.flags & Flag.IsServer) !== 0;
  }

  private get state(): State {
    return (this.flags & Flag.StateBits) as State;
  }
  private set state(value: State) {
    this.flags = (this.flags & ~Flag.StateBits) | value;
  }

  // The booleans kept in `flags`.

  private get inboxEnded(): boolean {
    return (this.flags & Flag.InboxEnded) !== 0;
  }
  private set inboxEnded(value: boolean) {
    this.flags = value ? this.flags | Flag.InboxEnded : this.flags & ~Flag.InboxEnded;
  }

  private get readableWants(): boolean {
    return (this.flags & Flag.ReadableWants) !== 0;
  }
  private set readableWants(value: boolean) {
    this.flags = value ? this.flags | Flag.ReadableWants : this.flags & ~Flag.ReadableWants;
  }

  private get closeSent(): boolean {
    return (this.flags & Flag.CloseSent) !== 0;
  }
  private set closeSent(value: boolean) {
    this.flags = value ? this.flags | Flag.CloseSent : this.flags & ~Flag.CloseSent;
  }

  private get closeReceived(): boolean {
    return (this.flags & Flag.CloseReceived) !== 0;
  }
  private set closeReceived(value: boolean) {
    this.flags = value ? this.flags | Flag.CloseReceived : this.flags & ~Flag.CloseReceived;
  }

  private get channelBusy(): boolean {
    return (this.flags & Flag.ChannelBusy) !== 0;
  }
  private set channelBusy(value: boolean) {
    this.flags = value ? this.flags | Flag.ChannelBusy : this.flags & ~Flag.ChannelBusy;
  }

  private get drainListening(): boolean {
    return (this.flags & Flag.DrainListening) !== 0;
  }
  private set drainListening(value: boolean) {
    this.flags = value ? this.flags | Flag.DrainListening : this.flags & ~Flag.DrainListening;
  }

  constructor(socket: Duplex, head: Buffer, options: WebSocketOptions) {
    super();
    this.socket = socket;
    if (options.isServer) this.flags |= Flag.IsServer;
    this.protocol = options.protocol ?? '';
    this.extensions = options.extensions ?? '';
    this.deflate = options.deflate ?? null;
    if (options.closeTimeout !== undefined && options.closeTimeout !== DEFAULT_CLOSE_TIMEOUT) this.closeTimeout = options.closeTimeout;
    this.bufferLimit = options.maxBufferedAmount ?? NO_BUFFER_LIMIT;
    const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;

    this.sender = new Sender(socket, !this.isServer, this.deflate, this);
    this.receiver = new Receiver({ maxPayload, deflate: this.deflate }, this);
    // The socket feeds the frame parser directly: the same state machine FrameDecoder wraps, without
    // a Transform per connection (measured: ~10% of handshake CPU and a third of idle heap).
    this.parser = new FrameParser(
      { requireMask: this.isServer, maxPayload, allowRsv1: this.deflate !== null },
      this.receiver,
      this.receiver,
    );

    const keepAlive = options.keepAlive;
    this.heartbeat = keepAlive ? new Heartbeat(keepAlive, this) : null;

    // TCP settings belong to TCP sockets only: an HTTP/2 stream has a setTimeout of its own, and its
    // session's socket is shared with other streams.
    if (socket instanceof Socket) {
      socket.setNoDelay(true);
      socket.setTimeout(0);
    }

    (socket as OwnedSocket)[kWebSocket] = this;
    socket.on('error', socketOnError);
    socket.on('end', socketOnEnd);
    socket.on('close', socketOnClose);
    // Bytes that came with the handshake are parsed before anything read later.
    if (head.length > 0) this.handleSocketData(head);
    socket.on('data', socketOnData);
    // The HTTP server may have paused the socket; flow unless the head's messages already filled the inbox.
    if (!this.parser.isPaused) socket.resume();
    if (socket.destroyed) process.nextTick(() => this.handleSocketClose());
    this.heartbeat?.start();
  }

  /**
   * Incoming messages as an objectMode stream; it ends when the peer's Close arrives. Destroying it
   * with an error closes the connection (with the error's close code, else 1011).
   */
  get readable(): Readable {
    if (this.readableStream === null) {
      this.readableStream = new Readable({
        objectMode: true,
        highWaterMark: INBOX_HIGH_WATER_MARK,
        read: () => {
          this.readableWants = true;
          this.feedReadable();
        },
        destroy: (err, callback) => {
          this.readableWants = false;
          if (err) this.closeForStreamError(err);
          // Nobody can read what arrives from now on: let the receiver drop it rather than stall.
          this.receiver.unblock();
          callback(err);
        },
      });
      // Like a stream read from the start: it buffers up to its high-water mark before anyone reads.
      this.readableWants = true;
      this.feedReadable();
    }
    return this.readableStream;
  }

  /**
   * Outgoing messages as an objectMode stream: a {@link Message}, a string (text), bytes (binary) or a {@link PreparedMessage}.
   * Ending it closes the connection with 1000; destroying it with an error closes with the error's code, else 1011.
   */
  get writable(): Writable {
    if (this.writableStream === null) {
      const closed = this.state === State.Closed;
      this.writableStream = new Writable({
        objectMode: true,
        write: (chunk: Message | string | Uint8Array | PreparedMessage, _encoding, callback) => this.writeChunk(chunk, callback),
        final: (callback) => {
          this.close(CloseCode.Normal).then(
            () => callback(),
            (err: Error) => callback(err),
          );
        },
        destroy: (err, callback) => {
          if (err) this.closeForStreamError(err);
          callback(err);
        },
      });
      // Made after the connection ended: born destroyed, so writes fail in their callbacks, never as an 'error' nobody hears.
      if (closed) this.writableStream.destroy();
    }
    return this.writableStream;
  }

  /** Bytes accepted for sending but not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.sender.bufferedAmount;
  }

  /** 'open', 'closing' (a Close frame was sent or received) or 'closed'. */
  get readyState(): 'open' | 'closing' | 'closed' {
    return this.state === State.Open ? 'open' : this.state === State.Closing ? 'closing' : 'closed';
  }

  /**
   * The next whole message. Rejects with a {@link CloseError} once the connection is closed (or with
   * the {@link WebSocketError} that failed it). Messages already received are still returned first.
   */
  readMessage(): Promise<Message> {
    const queued = this.dequeue();
    if (queued !== undefined) return Promise.resolve(queued);
    const ended = this.endedError();
    if (ended !== null) return Promise.reject(ended);
    const promise = new Promise<Message>(captureResolve);
    this.park(new ReadWaiter(null));
    return promise;
  }

  /**
   * Sends one message: strings as text, bytes as binary unless `type` says otherwise; a {@link PreparedMessage}
   * carries its own type (`type` is ignored) and is sent without being framed again.
   *
   * The promise paces the sender: it is already resolved when the message was taken while fewer than 256 KiB
   * waited to be sent (`bufferedAmount`), whatever the message's own size; otherwise it resolves once the
   * socket has written what it holds ('drain'). So `await ws.writeMessage(…)` in a loop keeps at most 256 KiB
   * plus one message buffered per connection, and never waits while the peer keeps up. Resolving means the
   * connection accepted the message, not that the peer received it: a failure after that (the connection
   * breaks before the bytes are out) is reported by 'close' (and 'error'), as for bytes already written.
   * It rejects when the connection is not open, or when `maxBufferedAmount` is exceeded (the connection then
   * closes with 1008).
   */
  writeMessage(data: string | Uint8Array | PreparedMessage, type?: MessageType, options?: WriteOptions): Promise<void> {
    if (data instanceof PreparedMessage) return this.writePrepared(data, options?.compress !== false);
    let payload: Buffer;
    try {
      payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBuffer(data);
    } catch (err) {
      return Promise.reject(err);
    }
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      return Promise.reject(new TypeError('writeMessage() takes a string or a Uint8Array'));
    }
    const messageType = type ?? (typeof data === 'string' ? 'text' : 'binary');
    if (messageType !== 'text' && messageType !== 'binary') {
      return Promise.reject(new TypeError(`Unknown message type ${String(messageType)}`));
    }
    const notOpen = this.notOpenError();
    if (notOpen !== null) return Promise.reject(notOpen);
    const compress = this.shouldCompress(payload.length, options);
    const opcode = messageType === 'text' ? Opcode.Text : Opcode.Binary;
    return this.sendInTurn(opcode, payload, compress, null);
  }

  private writePrepared(prepared: PreparedMessage, compress: boolean): Promise<void> {
    const notOpen = this.notOpenError();
    if (notOpen !== null) return Promise.reject(notOpen);
    // The payload argument is unused for a prepared message (its frame is passed: no view to allocate).
    return this.sendInTurn(prepared.opcode, prepared.frame, compress, prepared);
  }

  // Sends a whole message now, unless a streamed message holds the channel: then when its turn comes.
  private sendInTurn(opcode: number, payload: Buffer, compress: boolean, prepared: PreparedMessage | null): Promise<void> {
    if (!this.channelBusy && !this.channelQueue?.length) {
      const before = this.sender.bufferedAmount;
      this.sendWhole(opcode, payload, compress, prepared);
      return this.afterSend(before);
    }
    return new Promise<void>((resolve, reject) => {
      (this.channelQueue ??= []).push(() => {
        const stillNotOpen = this.notOpenError();
        if (stillNotOpen !== null) {
          reject(stillNotOpen);
          return;
        }
        const before = this.sender.bufferedAmount;
        this.sendWhole(opcode, payload, compress, prepared);
        this.afterSend(before).then(resolve, reject);
      });
    });
  }

  private sendWhole(opcode: number, payload: Buffer, compress: boolean, prepared: PreparedMessage | null): void {
    if (prepared !== null) this.sendPrepared(prepared, compress);
    else this.sender.send(opcode, payload, true, compress);
  }

  /**
   * @internal A hub's delivery: synchronous, no promise. Returns {@link DELIVER_SKIPPED} when the connection is
   * not open, {@link DELIVER_OVER_LIMIT} (nothing queued) when more than `limit` bytes already wait to be sent,
   * else {@link DELIVER_QUEUED}. Order with writeMessage()/nextWriter() is kept: behind a streaming writer,
   * the message waits for its turn like any other.
   */
  deliverPrepared(prepared: PreparedMessage, compress: boolean, limit: number): number {
    if (this.state !== State.Open) return DELIVER_SKIPPED;
    if (this.sender.bufferedAmount > limit) return DELIVER_OVER_LIMIT;
    if (!this.channelBusy && !this.channelQueue?.length) {
      this.sendPrepared(prepared, compress);
    } else {
      // Only behind a message being streamed: a closure then is the exception, not the rule.
      (this.channelQueue ??= []).push(() => {
        if (this.state === State.Open) this.sendPrepared(prepared, compress);
      });
    }
    if (this.overBufferLimit()) {
      this.fail(new WebSocketError(CloseCode.PolicyViolation, `The peer reads too slowly: over ${this.bufferLimit} bytes buffered`));
    }
    return DELIVER_QUEUED;
  }

  // Server role: the prepared frame itself, or its shared compressed frame; otherwise framed (and masked,
  // and compressed with context takeover) by this connection, as any message.
  private sendPrepared(prepared: PreparedMessage, compressWanted: boolean): void {
    const deflate = this.deflate;
    const compress = deflate !== null && compressWanted && prepared.length >= deflate.threshold;
    if (this.isServer) {
      if (!compress) {
        this.sender.sendFrame(prepared.frame);
        return;
      }
      const key = deflate.sharedKey;
      if (key !== null) {
        let frame: Buffer | null;
        try {
          frame = prepared.compressedFrame(key, deflate);
        } catch {
          // zlib failed (out of memory): the message still goes, uncompressed, rather than not at all.
          frame = prepared.frame;
        }
        this.sender.sendFrame(frame);
        return;
      }
    }
    this.sender.send(prepared.opcode, prepared.payload, true, compress);
  }

  /**
   * The next message as a byte stream, delivered frame by frame as it arrives: for messages too big
   * to hold. Such a message is never buffered whole, so `maxPayload` bounds each of its frames, not its total.
   */
  nextReader(): Promise<{ type: MessageType; stream: Readable }> {
    const message = this.dequeue();
    if (message !== undefined) {
      return Promise.resolve({ type: message.type, stream: Readable.from([message.data], { objectMode: false }) });
    }
    const ended = this.endedError();
    if (ended !== null) return Promise.reject(ended);
    return new Promise((resolve, reject) => {
      (this.readerWaiters ??= []).push({ resolve, reject });
      this.receiver.unblock();
    });
  }

  /**
   * A stream for one outgoing message: each write becomes a frame, `end()` sends the final one.
   * Other messages wait until it ends. Destroying it mid-message closes the connection with 1011,
   * since half a message cannot be taken back.
   */
  nextWriter(type: MessageType): MessageWriter {
    if (type !== 'text' && type !== 'binary') throw new TypeError(`Unknown message type ${String(type)}`);
    const writer = new MessageWriter(type, this.writerHost(type));
    const notOpen = this.notOpenError();
    if (notOpen !== null) {
      process.nextTick(() => writer.destroy(notOpen));
      return writer;
    }
    const start = (): void => {
      this.channelBusy = true;
      writer.start();
    };
    if (!this.channelBusy && !this.channelQueue?.length) start();
    else (this.channelQueue ??= []).push(start);
    return writer;
  }

  /**
   * Messages until the connection closes; a protocol failure is thrown. A message already received is
   * returned at once (an already-resolved promise); otherwise one promise waits for the next.
   */
  [Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
    return new MessageIterator(this);
  }

  /** @internal The iterator's `next()`. */
  nextForIterator(iterator: MessageIterator): Promise<IteratorResult<Message, void>> {
    if (iterator.finished) return Promise.resolve({ value: undefined, done: true });
    const message = this.dequeue();
    if (message !== undefined) return Promise.resolve({ value: message, done: false });
    // Ended: a failure is thrown once, a close just ends the loop (no CloseError is built for it).
    if (this.failure !== null || this.closeReceived || this.state === State.Closed) {
      iterator.finished = true;
      return this.failure !== null ? Promise.reject(this.failure) : Promise.resolve({ value: undefined, done: true });
    }
    const promise = new Promise<IteratorResult<Message, void>>(captureResolve);
    if (iterator.resolve === null) {
      iterator.resolve = capturedResolve;
      this.park(iterator);
    } else {
      // next() called again before the last one settled: queue it behind.
      this.park(new ReadWaiter(iterator));
    }
    return promise;
  }

  /** @internal The iterator's `return()`: its `next()` calls still waiting end now. */
  unparkIterator(iterator: MessageIterator): void {
    if (this.reader === null) return;
    const queue = [this.reader, ...(this.moreReaders ?? [])];
    this.reader = null;
    this.moreReaders = null;
    for (const reader of queue) {
      if (reader.owner === iterator) finishReader(reader);
      else if (this.reader === null) this.reader = reader;
      else (this.moreReaders ??= []).push(reader);
    }
  }

  private park(reader: ParkedReader): void {
    if (this.reader === null) this.reader = reader;
    else (this.moreReaders ??= []).push(reader);
    this.receiver.unblock();
  }

  private takeReader(): ParkedReader | null {
    const reader = this.reader;
    if (reader !== null) {
      const more = this.moreReaders;
      this.reader = more !== null && more.length > 0 ? (more.shift() as ParkedReader) : null;
    }
    return reader;
  }

  /** Sends a Ping (at most 125 bytes). Resolves once it is written. */
  ping(data: string | Uint8Array = Buffer.alloc(0)): Promise<void> {
    return this.controlFrame(Opcode.Ping, data);
  }

  /** Sends an unsolicited Pong (at most 125 bytes), e.g. as a unidirectional heartbeat. */
  pong(data: string | Uint8Array = Buffer.alloc(0)): Promise<void> {
    return this.controlFrame(Opcode.Pong, data);
  }

  /**
   * Replaces the automatic answer to pings: with a handler set, no pong is sent unless it sends one.
   * Pass null to restore the default.
   */
  setPingHandler(handler: ((payload: Buffer) => void) | null): void {
    this.pingHandler = handler;
  }

  /**
   * Starts (or joins) the closing handshake: sends a Close frame with `code` (default 1000; null for
   * none) and `reason`, waits for the peer's, then for the TCP close, at most `closeTimeout` ms.
   * Resolves with how the connection ended.
   */
  close(code: number | null = CloseCode.Normal, reason = ''): Promise<CloseInfo> {
    if (this.closeInfo !== null) return Promise.resolve(this.closeInfo);
    if (!this.closeSent) {
      let payload: Buffer;
      try {
        // null: a Close with no status code, which the peer reports as 1005 (a browser's bare close()).
        payload = buildClosePayload(code ?? undefined, reason);
      } catch (err) {
        return Promise.reject(err);
      }
      this.sendClose(payload);
      if (this.closeReceived) this.finishClosingHandshake();
    }
    return this.whenClosed();
  }

  /** Drops the connection at once (TCP destroyed; an HTTP/2 stream reset with CANCEL), without a closing handshake (reported as 1006). */
  terminate(): void {
    dropTransport(this.socket);
  }

  // ---- incoming -------------------------------------------------------------------------------

  // ---- what the receiver reports (internal) ----------------------------------------------------

  /** @internal A whole message; false asks the receiver to stop reading. */
  handleMessage(type: MessageType, data: Buffer): boolean {
    this.heartbeat?.alive();
    if (this.listenerCount('message') > 0) {
      // The event is the lightest way in: no queue, no promise, and so no backpressure either.
      this.emit('message', data, type);
      return true;
    }
    const reader = this.takeReader();
    if (reader !== null) {
      deliverTo(reader, { type, data });
      return true;
    }
    const readable = this.readableStream;
    if (readable !== null) {
      // A destroyed readable can never be read: drop rather than stall the peer's Close behind it.
      if (readable.destroyed) return true;
      if (this.readableWants && this.inbox.length === 0) {
        this.readableWants = readable.push({ type, data });
        return this.readableWants;
      }
    }
    if (this.closeSent && this.inbox.length >= INBOX_HIGH_WATER_MARK) {
      // We are closing and nobody reads: keep looking for the peer's Close instead of stalling on a full inbox.
      return true;
    }
    if (this.inbox === NO_MESSAGES) this.inbox = [];
    this.inbox.push({ type, data });
    return this.inbox.length < INBOX_HIGH_WATER_MARK;
  }

  /** @internal A ping; false asks the receiver to stop reading until the socket drains. */
  handlePing(payload: Buffer): boolean {
    this.heartbeat?.alive();
    if (this.listenerCount('ping') > 0) this.emit('ping', payload);
    if (this.pingHandler !== null) {
      this.pingHandler(payload);
    } else if (!this.closeSent) {
      if (++this.pendingPongs > MAX_PENDING_PONGS) {
        this.fail(new WebSocketError(CloseCode.PolicyViolation, 'Ping flood: too many pongs waiting to be sent'));
        dropTransport(this.socket);
        return false;
      }
      this.onPongFlushed ??= () => {
        this.pendingPongs--;
      };
      this.sender.send(Opcode.Pong, payload, true, false, this.onPongFlushed);
    }
    // Automatic pongs respect backpressure: while the socket is full, stop reading more pings.
    if (!this.socket.writableNeedDrain) return true;
    this.listenForDrain();
    return false;
  }

  /** @internal */
  handlePong(payload: Buffer): void {
    this.heartbeat?.alive();
    if (this.listenerCount('pong') > 0) this.emit('pong', payload);
  }

  /** @internal The peer's Close frame, already validated. */
  handleClose(code: number, reason: string): void {
    this.closeReceived = true;
    this.peerCode = code;
    this.peerReason = reason;
    this.endInbox();
    this.rejectReaders();
    if (!this.closeSent) {
      // Echo the peer's code (RFC 6455 §5.5.1); a Close without a code is answered without one.
      this.sendClose(code === CloseCode.NoStatus ? buildClosePayload() : buildClosePayload(code));
    }
    this.finishClosingHandshake();
  }

  /** @internal The peer broke the protocol: fail the connection with the error's code. */
  handleProtocolError(err: WebSocketError): void {
    this.deferFailure(err);
  }

  /** @internal Parsing may go on after the receiver paused it. */
  resumeReading(): void {
    let consumed: boolean;
    try {
      consumed = this.parser.resume();
    } catch (err) {
      this.onParserError(err);
      return;
    }
    if (consumed && this.state !== State.Closed) this.socket.resume();
  }

  /** @internal */
  handleSocketData(chunk: Buffer): void {
    // After a Close (either way) nothing more is parsed, but the socket keeps flowing so its end is seen.
    if (this.closeReceived || this.failure !== null || this.deferred !== null) return;
    let consumed: boolean;
    try {
      consumed = this.parser.push(chunk);
    } catch (err) {
      this.onParserError(err);
      return;
    }
    if (!consumed && !this.closeReceived && this.failure === null && this.deferred === null) this.socket.pause();
  }

  private onParserError(err: unknown): void {
    if (err instanceof WebSocketError) this.deferFailure(err);
    else this.fail(new WebSocketError(CloseCode.InternalError, `Internal error while reading: ${String(err)}`, { cause: err }));
  }

  // The peer broke the protocol. Nothing after the bad frame is read, but the messages before it (often in the
  // same read, as the parser reads ahead) are still delivered, like a pull parser would: the connection fails once
  // they are read and, a turn of the event loop later, the application's answers are queued before the Close
  // (Autobahn 3.2, 4.1.3, 5.15: "the echo for the first message is received, then the connection is failed").
  // An application that does not read them gets PROTOCOL_ERROR_GRACE ms.
  private deferFailure(err: WebSocketError): void {
    if (this.failure !== null || this.deferred !== null || this.state === State.Closed) return;
    this.receiver.stop(err);
    // Not unref'd: it is always cleared when the connection fails or closes, and leak checks can see it.
    this.deferred = { err, timer: setTimeout(failDeferred, PROTOCOL_ERROR_GRACE, this), checkScheduled: false };
    this.scheduleDeferredCheck(this.deferred);
  }

  // Checks after the current turn (and the microtasks it queues): a message just handed over is answered first.
  private scheduleDeferredCheck(deferred: DeferredFailure): void {
    if (deferred.checkScheduled) return;
    deferred.checkScheduled = true;
    setImmediate(checkDeferredFailure, this);
  }

  /** @internal Fails the deferred protocol error once every message received before it was read. */
  handleDeferredCheck(): void {
    const deferred = this.deferred;
    if (deferred === null) return;
    deferred.checkScheduled = false;
    if (this.inbox.length > 0) return;
    const readable = this.readableStream;
    if (readable !== null && !readable.destroyed && readable.readableLength > 0) return;
    this.failDeferred();
  }

  /** @internal */
  failDeferred(): void {
    const deferred = this.deferred;
    if (deferred === null) return;
    this.clearDeferred(deferred);
    this.fail(deferred.err);
  }

  private clearDeferred(deferred: DeferredFailure): void {
    this.deferred = null;
    clearTimeout(deferred.timer);
  }

  /** @internal A stream waiting for the next message (`nextReader()`), or null. */
  takeStreamTarget(type: MessageType): MessageStreamTarget | null {
    const waiter = this.readerWaiters?.shift();
    if (waiter === undefined) return null;
    const reader = new MessageReader(type, () => this.receiver.unblock());
    waiter.resolve({ type, stream: reader });
    return reader;
  }

  // Both Close frames are out: the server closes TCP first (RFC 6455 §7.1.1); the client waits for it.
  private finishClosingHandshake(): void {
    if (this.isServer) this.sender.end();
    this.armCloseTimer();
  }

  // ---- outgoing -------------------------------------------------------------------------------

  private writeChunk(chunk: Message | string | Uint8Array | PreparedMessage, callback: (err?: Error | null) => void): void {
    let result: Promise<void>;
    if (typeof chunk === 'string' || chunk instanceof Uint8Array || chunk instanceof PreparedMessage) {
      result = this.writeMessage(chunk);
    } else if (chunk !== null && typeof chunk === 'object' && (chunk.type === 'text' || chunk.type === 'binary')) {
      result = this.writeMessage(chunk.data, chunk.type);
    } else {
      callback(new TypeError('ws.writable takes a Message ({ type, data }), a string or a Uint8Array'));
      return;
    }
    result.then(
      () => callback(),
      (err: Error) => {
        const writable = this.writableStream;
        // A refused write raises 'error' on the stream; with nobody listening that would crash the
        // process, so the stream is put down quietly instead ('close' on the connection says why).
        if (writable !== null && writable.listenerCount('error') === 0 && this.state !== State.Open) {
          writable.destroy();
          callback();
        } else {
          callback(err);
        }
      },
    );
  }

  private writerHost(type: MessageType): MessageWriterHost {
    const opcode = type === 'text' ? Opcode.Text : Opcode.Binary;
    let compress = false;
    return {
      sendFragment: (first, fin, data, callback) => {
        const notOpen = this.notOpenError();
        if (notOpen !== null) {
          callback(notOpen);
          return;
        }
        // The first frame decides for the whole message: RSV1 is set there or nowhere.
        if (first) compress = this.shouldCompress(Infinity, undefined);
        const before = this.sender.bufferedAmount;
        this.sender.send(first ? opcode : Opcode.Continuation, data, fin, compress, undefined, first);
        this.afterSend(before).then(() => callback(), callback);
      },
      releaseChannel: () => {
        this.channelBusy = false;
        const queue = this.channelQueue;
        while (!this.channelBusy && queue !== null && queue.length > 0) (queue.shift() as () => void)();
      },
      abortMessage: (err) => {
        this.fail(
          new WebSocketError(CloseCode.InternalError, `A message writer was destroyed mid-message${err ? `: ${err.message}` : ''}`),
        );
      },
    };
  }

  private shouldCompress(length: number, options: WriteOptions | undefined): boolean {
    return this.deflate !== null && options?.compress !== false && length >= this.deflate.threshold;
  }

  private overBufferLimit(): boolean {
    return this.bufferLimit !== NO_BUFFER_LIMIT && this.sender.bufferedAmount > this.bufferLimit;
  }

  // The pace of writeMessage() (see there): resolves now when the message was taken while fewer than
  // WRITE_HIGH_WATER_MARK bytes were waiting (`before`: bufferedAmount before it), or when the socket has room
  // anyway; else at 'drain'. Enforces maxBufferedAmount.
  private afterSend(before: number): Promise<void> {
    if (this.overBufferLimit()) {
      this.fail(new WebSocketError(CloseCode.PolicyViolation, `The peer reads too slowly: over ${this.bufferLimit} bytes buffered`));
      return Promise.reject(this.notOpenError() ?? new CloseError(CloseCode.Abnormal, '', false));
    }
    if (before < WRITE_HIGH_WATER_MARK || !this.sender.needsDrain) return RESOLVED;
    this.listenForDrain();
    return new Promise<void>((resolve, reject) => (this.drainWaiters ??= []).push({ resolve, reject }));
  }

  // 'drain' is listened for from the first time the socket fills up: most connections never need it.
  private listenForDrain(): void {
    if (this.drainListening) return;
    this.drainListening = true;
    this.socket.on('drain', socketOnDrain);
  }

  /** @internal The socket (or the compression queue) can take more. */
  handleDrain(): void {
    if (this.sender.needsDrain) return;
    const waiters = this.drainWaiters;
    if (waiters !== null && waiters.length > 0) for (const waiter of waiters.splice(0)) waiter.resolve();
    // Reading stopped while pongs could not be flushed.
    this.receiver.unblock();
  }

  private controlFrame(opcode: number, data: string | Uint8Array): Promise<void> {
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBuffer(data);
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      return Promise.reject(new RangeError(`Control frame payload of ${payload.length} bytes (max 125)`));
    }
    const notOpen = this.notOpenError();
    if (notOpen !== null) return Promise.reject(notOpen);
    return new Promise<void>((resolve, reject) => {
      this.sender.send(opcode, payload, true, false, (err) => (err ? reject(err) : resolve()));
    });
  }

  private sendControl(opcode: number, payload: Buffer): void {
    if (this.closeSent || this.state === State.Closed) return;
    this.sender.send(opcode, payload, true, false);
  }

  private sendClose(payload: Buffer): void {
    this.closeSent = true;
    this.state = State.Closing;
    this.sender.send(Opcode.Close, payload, true, false);
    this.armCloseTimer();
  }

  // ---- failure and teardown -------------------------------------------------------------------

  // Fails the connection (RFC 6455 §7.1.7): Close with the error's code, then close TCP without waiting.
  private fail(err: WebSocketError): void {
    if (this.failure !== null || this.state === State.Closed) return;
    if (this.deferred !== null) this.clearDeferred(this.deferred);
    this.failure = err;
    this.receiver.stop(err);
    if (!this.closeSent) {
      const code = isValidCloseCode(err.closeCode) ? err.closeCode : CloseCode.ProtocolError;
      this.sendClose(buildClosePayload(code, err.message));
    }
    this.rejectReaders();
    // Reading may have been paused (a message was being inflated): nothing more is parsed, but the peer's end must be seen.
    this.socket.resume();
    // After whatever is queued, the Close included: ending first would cut it off.
    this.sender.end();
    this.armCloseTimer();
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** @internal The heartbeat's ping. */
  sendHeartbeatPing(): void {
    this.sendControl(Opcode.Ping, EMPTY_PAYLOAD);
  }

  /** @internal The heartbeat's ping went unanswered. */
  heartbeatExpired(): void {
    this.failure ??= new WebSocketError(CloseCode.Abnormal, 'The peer stopped answering pings (keepAlive)');
    dropTransport(this.socket);
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== null || this.state === State.Closed) return;
    // A shared function, not a closure: one is armed for every connection that closes.
    this.closeTimer = setTimeout(dropTransport, this.closeTimeout, this.socket);
    this.closeTimer.unref();
  }

  /** @internal */
  handleSocketError(err: Error): void {
    // A reset after we closed is routine; before, the application may want to know.
    if (isDropError(err)) return;
    if (!this.closeSent && this.state !== State.Closed && this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** @internal The peer half-closed: nothing more can arrive, so finish our side too, after what is queued. */
  handleSocketEnd(): void {
    if (this.socket.writable) this.sender.end();
  }

  /** @internal */
  handleSocketClose(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    if (this.deferred !== null) {
      // The peer hung up before the deferred failure: readers still learn why nothing more came.
      this.failure ??= this.deferred.err;
      this.clearDeferred(this.deferred);
    }
    this.heartbeat?.stop();
    this.socket.removeListener('data', socketOnData);
    this.deflate?.close();

    const info: CloseInfo = {
      code: this.closeReceived ? this.peerCode : CloseCode.Abnormal,
      reason: this.closeReceived ? this.peerReason : '',
      wasClean: this.closeSent && this.closeReceived,
    };
    this.closeInfo = info;
    // Error objects capture a stack: build one only for someone who will receive it.
    let closed: CloseError | null = null;
    const closedError = (): CloseError => (closed ??= new CloseError(info.code, info.reason, info.wasClean));
    if (this.receiver.isStreaming) this.receiver.stop(this.failure ?? closedError());
    else this.receiver.stop(null);
    if (this.sender.hasQueued) this.sender.abort(closedError());
    else this.sender.abort(null);
    this.endInbox();
    this.rejectReaders();
    for (const waiter of this.drainWaiters?.splice(0) ?? []) waiter.reject(closedError());
    for (const run of this.channelQueue?.splice(0) ?? []) run();
    // Resolved first, so a writable's pending final() completes instead of being cut short.
    for (const resolve of this.closeWaiters?.splice(0) ?? []) resolve(info);
    const writable = this.writableStream;
    if (writable !== null && !writable.destroyed && !writable.writableEnded) {
      // A pipeline into it learns how the connection ended; with nobody listening, no 'error' is raised.
      if (writable.listenerCount('error') > 0) writable.destroy(this.failure ?? closedError());
      else writable.destroy();
    }
    this.emit('close', info);
  }

  // The next received message, if any, making room for more.
  private dequeue(): Message | undefined {
    // Messages already moved into the readable stream are older than those still in the inbox.
    const readable = this.readableStream;
    if (readable !== null && !readable.destroyed && readable.readableLength > 0) {
      const buffered = readable.read() as Message | null;
      if (buffered !== null) return buffered;
    }
    const message = this.inbox.shift();
    if (message !== undefined) {
      if (this.deferred !== null) this.scheduleDeferredCheck(this.deferred);
      if (this.inbox.length === 0 && this.inboxEnded) this.feedReadable();
      this.receiver.unblock();
    }
    return message;
  }

  // Moves queued messages into the readable stream while it wants more, and ends it after the last.
  private feedReadable(): void {
    if (this.deferred !== null) this.scheduleDeferredCheck(this.deferred);
    const readable = this.readableStream;
    if (readable === null || readable.destroyed || readable.readableEnded) return;
    while (this.readableWants && this.inbox.length > 0) {
      this.readableWants = readable.push(this.inbox.shift());
    }
    if (this.inbox.length === 0 && this.inboxEnded) {
      readable.push(null);
      return;
    }
    if (this.readableWants) this.receiver.unblock();
  }

  // No message can arrive any more: the readable ends once the inbox is read.
  private endInbox(): void {
    if (this.inboxEnded) return;
    this.inboxEnded = true;
    this.feedReadable();
  }

  // A stream over this connection was destroyed with an error: close with the error's code, else 1011.
  private closeForStreamError(err: Error): void {
    if (this.state !== State.Open) return;
    const { code, reason } = closeCodeFor(err);
    void this.close(code, reason).catch(() => undefined);
  }

  private whenClosed(): Promise<CloseInfo> {
    if (this.closeInfo !== null) return Promise.resolve(this.closeInfo);
    return new Promise((resolve) => (this.closeWaiters ??= []).push(resolve));
  }

  // Waiting readers get the error once no more messages can come.
  private rejectReaders(): void {
    if (this.reader === null && !this.readerWaiters?.length) return;
    if (this.failure === null && !this.closeReceived && this.state !== State.Closed) return;
    // Built only for a reader that rejects: an iterator ends a loop quietly on a close.
    let err: Error | null = this.failure;
    for (let reader = this.takeReader(); reader !== null; reader = this.takeReader()) {
      if (reader.owner !== null && this.failure === null) finishReader(reader);
      else endReader(reader, (err ??= this.endedError() as Error));
    }
    if (this.readerWaiters?.length) {
      err ??= this.endedError() as Error;
      for (const waiter of this.readerWaiters.splice(0)) waiter.reject(err);
    }
  }

  // Why nothing more can be read, or null while messages may still arrive.
  private endedError(): Error | null {
    if (this.failure !== null) return this.failure;
    if (this.closeReceived) return new CloseError(this.peerCode, this.peerReason, this.closeSent);
    if (this.state === State.Closed) {
      const info = this.closeInfo as CloseInfo;
      return new CloseError(info.code, info.reason, info.wasClean);
    }
    return null;
  }

  // Why nothing more can be sent, or null while the connection is open.
  private notOpenError(): Error | null {
    if (this.state === State.Open) return null;
    if (this.failure !== null) return this.failure;
    if (this.closeInfo !== null) return new CloseError(this.closeInfo.code, this.closeInfo.reason, this.closeInfo.wasClean);
    return new CloseError(this.closeReceived ? this.peerCode : CloseCode.Abnormal, this.peerReason, false, 'WebSocket is closing');
  }
}


/**
 * The async iterator of a {@link WebSocket}: hand-written rather than an async generator, so that a loop
 * parked in `for await` holds this object and the one promise it awaits, and a message already received
 * costs no more than an already-resolved promise.
 */
class MessageIterator implements AsyncGenerator<Message, void, undefined>, ParkedReader {
  resolve: ((value: never) => void) | null = null;
  /** Set once it has ended (a close, a failure thrown, return() or throw()): next() then says done. */
  finished = false;

  constructor(private readonly ws: WebSocket) {}

  /** Its own parked reader (a getter, not a field: nothing more to hold per loop). */
  get owner(): MessageIterator {
    return this;
  }

  next(): Promise<IteratorResult<Message, void>> {
    return this.ws.nextForIterator(this);
  }

  return(): Promise<IteratorResult<Message, void>> {
    this.finished = true;
    this.ws.unparkIterator(this);
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(err?: unknown): Promise<IteratorResult<Message, void>> {
    // As a generator suspended at a yield with no catch: it ends, and the error comes back.
    this.finished = true;
    this.ws.unparkIterator(this);
    return Promise.reject(err);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

// Where the runtime knows Symbol.asyncDispose (newer lib typings list it on AsyncGenerator), disposing
// ends the iterator as return() does.
const asyncDispose = (Symbol as { asyncDispose?: symbol }).asyncDispose;
if (asyncDispose !== undefined) {
  Object.defineProperty(MessageIterator.prototype, asyncDispose, {
    value: async function (this: MessageIterator): Promise<void> {
      await this.return();
    },
    writable: true,
    configurable: true,
  });
}
