import { EventEmitter } from 'events';
import { Readable, Writable } from 'stream';
import type { Duplex } from 'stream';
import { buildClosePayload, isValidCloseCode } from '../codec/close-payload';
import { MAX_CONTROL_PAYLOAD, Opcode } from '../codec/frame';
import { FrameDecoder } from '../codec/frame-decoder';
import { DEFAULT_MAX_PAYLOAD } from '../codec/frame-parser';
import { toBuffer } from '../codec/frame-serializer';
import { CloseCode, CloseError, WebSocketError } from '../errors';
import type { PerMessageDeflate } from '../extensions/permessage-deflate';
import { Heartbeat, KeepAliveOptions } from './keepalive';
import { MessageReader, MessageWriter, MessageWriterHost } from './message-streams';
import { MessageStreamTarget, MessageType, Receiver, ReceiverSink } from './receiver';
import { Sender } from './sender';

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

/** The default close timeout, in milliseconds. */
export const DEFAULT_CLOSE_TIMEOUT = 5000;

// Whole messages buffered on `readable` before the socket is paused.
const READABLE_HIGH_WATER_MARK = 16;

// Automatic pongs written but not yet flushed. Reading pauses while the socket is full, so a peer
// that pings without reading normally stalls itself long before this; past it, it is a flooder (ws 8.23).
const MAX_PENDING_PONGS = 1024;

const enum State {
  Open,
  Closing,
  Closed,
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * One WebSocket connection, server or client side. Messages come in through `readable` (or
 * `readMessage()`, the async iterator, `nextReader()`) and go out through `writable` (or
 * `writeMessage()`, `nextWriter()`), with backpressure from end to end.
 *
 * Events: 'ping' (payload), 'pong' (payload), 'close' ({@link CloseInfo}), 'error' (only emitted when
 * someone listens: an error never crashes the process).
 */
export class WebSocket extends EventEmitter {
  /** Incoming messages, in objectMode. Ends when the peer's Close frame arrives. */
  readonly readable: Readable;
  /** Outgoing messages, in objectMode: a {@link Message}, a string (text) or bytes (binary). Ending it closes with 1000. */
  readonly writable: Writable;
  /** The subprotocol agreed in the handshake, or ''. */
  readonly protocol: string;
  /** The extensions agreed in the handshake (the Sec-WebSocket-Extensions value), or ''. */
  readonly extensions: string;
  /** True on the server side of the connection. */
  readonly isServer: boolean;

  private readonly socket: Duplex;
  private readonly decoder: FrameDecoder;
  private readonly receiver: Receiver;
  private readonly sender: Sender;
  private readonly deflate: PerMessageDeflate | null;
  private readonly closeTimeout: number;
  private readonly maxBufferedAmount: number;
  private readonly heartbeat: Heartbeat | null;

  private state = State.Open;
  private closeSent = false;
  private closeReceived = false;
  private peerCode: number = CloseCode.Abnormal;
  private peerReason = '';
  private failure: WebSocketError | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private closeInfo: CloseInfo | null = null;
  private readonly closeWaiters: Array<(info: CloseInfo) => void> = [];
  private readonly messageWaiters: Array<Waiter<Message>> = [];
  private readonly readerWaiters: Array<Waiter<{ type: MessageType; stream: Readable }>> = [];
  private readonly drainWaiters: Array<Waiter<void>> = [];
  // Outgoing messages take turns: a streaming writer holds the turn until it ends.
  private channelBusy = false;
  private readonly channelQueue: Array<() => void> = [];
  private pingHandler: ((payload: Buffer) => void) | null = null;
  private pendingPongs = 0;
  private readonly onPongFlushed = (): void => {
    this.pendingPongs--;
  };

  constructor(socket: Duplex, head: Buffer, options: WebSocketOptions) {
    super();
    this.socket = socket;
    this.isServer = options.isServer;
    this.protocol = options.protocol ?? '';
    this.extensions = options.extensions ?? '';
    this.deflate = options.deflate ?? null;
    this.closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.maxBufferedAmount = options.maxBufferedAmount ?? Infinity;
    const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;

    this.readable = new Readable({
      objectMode: true,
      highWaterMark: READABLE_HIGH_WATER_MARK,
      read: () => this.receiver.unblock(),
    });
    this.writable = new Writable({
      objectMode: true,
      write: (chunk: Message | string | Uint8Array, _encoding, callback) => this.writeChunk(chunk, callback),
      final: (callback) => {
        this.close(CloseCode.Normal).then(
          () => callback(),
          (err: Error) => callback(err),
        );
      },
    });

    this.sender = new Sender(socket, !this.isServer, this.deflate);
    this.sender.onQueueDrained = this.onSocketDrain;
    this.receiver = new Receiver({ maxPayload, deflate: this.deflate }, this.sink);
    this.decoder = new FrameDecoder({
      requireMask: this.isServer,
      maxPayload,
      allowRsv1: this.deflate !== null,
      onFrame: this.receiver.onFrame,
    });

    const keepAlive = options.keepAlive;
    this.heartbeat =
      keepAlive
        ? new Heartbeat(
            keepAlive,
            () => this.sendControl(Opcode.Ping, Buffer.alloc(0)),
            () => this.onDeadPeer(),
          )
        : null;

    const net = socket as Duplex & { setNoDelay?: (noDelay: boolean) => void; setTimeout?: (ms: number) => void };
    if (typeof net.setNoDelay === 'function') net.setNoDelay(true);
    if (typeof net.setTimeout === 'function') net.setTimeout(0);

    socket.on('error', this.onSocketError);
    socket.on('end', this.onSocketEnd);
    socket.on('close', this.onSocketClose);
    socket.on('drain', this.onSocketDrain);
    this.decoder.on('error', this.onDecoderError);

    if (head.length > 0) this.decoder.write(head);
    socket.pipe(this.decoder);
    if (socket.destroyed) process.nextTick(this.onSocketClose);
    this.heartbeat?.start();
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
    if (this.readable.readableLength > 0) return Promise.resolve(this.readable.read() as Message);
    const ended = this.endedError();
    if (ended !== null) return Promise.reject(ended);
    return new Promise<Message>((resolve, reject) => {
      this.messageWaiters.push({ resolve, reject });
      this.receiver.unblock();
    });
  }

  /** Sends one message: strings as text, bytes as binary unless `type` says otherwise. Resolves once the socket can take more. */
  writeMessage(data: string | Uint8Array, type?: MessageType, options?: WriteOptions): Promise<void> {
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
    if (!this.channelBusy && this.channelQueue.length === 0) {
      this.sender.send(opcode, payload, true, compress);
      return this.afterSend();
    }
    return new Promise<void>((resolve, reject) => {
      this.channelQueue.push(() => {
        const stillNotOpen = this.notOpenError();
        if (stillNotOpen !== null) {
          reject(stillNotOpen);
          return;
        }
        this.sender.send(opcode, payload, true, compress);
        this.afterSend().then(resolve, reject);
      });
    });
  }

  /**
   * The next message as a byte stream, delivered frame by frame as it arrives: for messages too big
   * to hold. Such a message is never buffered whole, so `maxPayload` bounds each of its frames, not its total.
   */
  nextReader(): Promise<{ type: MessageType; stream: Readable }> {
    if (this.readable.readableLength > 0) {
      const message = this.readable.read() as Message;
      return Promise.resolve({ type: message.type, stream: Readable.from([message.data], { objectMode: false }) });
    }
    const ended = this.endedError();
    if (ended !== null) return Promise.reject(ended);
    return new Promise((resolve, reject) => {
      this.readerWaiters.push({ resolve, reject });
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
    if (!this.channelBusy && this.channelQueue.length === 0) start();
    else this.channelQueue.push(start);
    return writer;
  }

  /** Messages until the connection closes; a protocol failure is thrown. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
    for (;;) {
      let message: Message;
      try {
        message = await this.readMessage();
      } catch (err) {
        if (err instanceof CloseError) return;
        throw err;
      }
      yield message;
    }
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
   * Starts (or joins) the closing handshake: sends a Close frame with `code` and `reason`, waits for
   * the peer's, then for the TCP close, at most `closeTimeout` ms. Resolves with how the connection ended.
   */
  close(code: number = CloseCode.Normal, reason = ''): Promise<CloseInfo> {
    if (this.closeInfo !== null) return Promise.resolve(this.closeInfo);
    if (!this.closeSent) {
      let payload: Buffer;
      try {
        payload = buildClosePayload(code, reason);
      } catch (err) {
        return Promise.reject(err);
      }
      this.sendClose(payload);
      if (this.closeReceived) this.finishClosingHandshake();
    }
    return this.whenClosed();
  }

  /** Destroys the TCP connection at once, without a closing handshake (the close code reported is 1006). */
  terminate(): void {
    this.socket.destroy();
  }

  // ---- incoming -------------------------------------------------------------------------------

  private readonly sink: ReceiverSink = {
    onMessage: (type, data) => {
      this.heartbeat?.alive();
      const waiter = this.messageWaiters.shift();
      if (waiter !== undefined) {
        waiter.resolve({ type, data });
        return true;
      }
      if (this.closeSent && this.readable.readableLength >= READABLE_HIGH_WATER_MARK) {
        // We are closing and nobody reads: keep looking for the peer's Close instead of stalling on a full buffer.
        return true;
      }
      return this.readable.push({ type, data });
    },
    takeStreamTarget: (type) => this.takeStreamTarget(type),
    onPing: (payload) => {
      this.heartbeat?.alive();
      if (this.listenerCount('ping') > 0) this.emit('ping', payload);
      if (this.pingHandler !== null) {
        this.pingHandler(payload);
      } else if (!this.closeSent) {
        if (++this.pendingPongs > MAX_PENDING_PONGS) {
          this.fail(new WebSocketError(CloseCode.PolicyViolation, 'Ping flood: too many pongs waiting to be sent'));
          this.socket.destroy();
          return false;
        }
        this.sender.send(Opcode.Pong, payload, true, false, this.onPongFlushed);
      }
      // Automatic pongs respect backpressure: while the socket is full, stop reading more pings.
      return !this.socket.writableNeedDrain;
    },
    onPong: (payload) => {
      this.heartbeat?.alive();
      if (this.listenerCount('pong') > 0) this.emit('pong', payload);
    },
    onClose: (code, reason) => this.onCloseFrame(code, reason),
    onError: (err) => this.fail(err),
    resume: () => this.decoder.resumeParsing(),
  };

  private takeStreamTarget(type: MessageType): MessageStreamTarget | null {
    const waiter = this.readerWaiters.shift();
    if (waiter === undefined) return null;
    const reader = new MessageReader(type, () => this.receiver.unblock());
    waiter.resolve({ type, stream: reader });
    return reader;
  }

  private onCloseFrame(code: number, reason: string): void {
    this.closeReceived = true;
    this.peerCode = code;
    this.peerReason = reason;
    this.readable.push(null);
    this.rejectReaders();
    if (!this.closeSent) {
      // Echo the peer's code (RFC 6455 §5.5.1); a Close without a code is answered without one.
      this.sendClose(code === CloseCode.NoStatus ? buildClosePayload() : buildClosePayload(code));
    }
    this.finishClosingHandshake();
  }

  // Both Close frames are out: the server closes TCP first (RFC 6455 §7.1.1); the client waits for it.
  private finishClosingHandshake(): void {
    if (this.isServer) this.socket.end();
    this.armCloseTimer();
  }

  private readonly onDecoderError = (err: Error): void => {
    if (err instanceof WebSocketError && err.closeCode !== CloseCode.Abnormal) this.fail(err);
    // A frame cut off by the end of the stream: the TCP close that follows reports 1006.
  };

  // ---- outgoing -------------------------------------------------------------------------------

  private writeChunk(chunk: Message | string | Uint8Array, callback: (err?: Error | null) => void): void {
    let result: Promise<void>;
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) {
      result = this.writeMessage(chunk);
    } else if (chunk !== null && typeof chunk === 'object' && (chunk.type === 'text' || chunk.type === 'binary')) {
      result = this.writeMessage(chunk.data, chunk.type);
    } else {
      callback(new TypeError('ws.writable takes a Message ({ type, data }), a string or a Uint8Array'));
      return;
    }
    result.then(() => callback(), callback);
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
        this.sender.send(first ? opcode : Opcode.Continuation, data, fin, compress, undefined, first);
        this.afterSend().then(() => callback(), callback);
      },
      releaseChannel: () => {
        this.channelBusy = false;
        while (!this.channelBusy && this.channelQueue.length > 0) (this.channelQueue.shift() as () => void)();
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

  // Resolves now when the socket has room, else at 'drain'; enforces maxBufferedAmount.
  private afterSend(): Promise<void> {
    if (this.sender.bufferedAmount > this.maxBufferedAmount) {
      this.fail(new WebSocketError(CloseCode.PolicyViolation, `The peer reads too slowly: over ${this.maxBufferedAmount} bytes buffered`));
      return Promise.reject(this.notOpenError() ?? new CloseError(CloseCode.Abnormal, '', false));
    }
    if (!this.sender.needsDrain) return RESOLVED;
    return new Promise<void>((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  private readonly onSocketDrain = (): void => {
    if (this.sender.needsDrain) return;
    const waiters = this.drainWaiters.splice(0);
    for (const waiter of waiters) waiter.resolve();
    // Reading stopped while pongs could not be flushed.
    this.receiver.unblock();
  };

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
    this.failure = err;
    this.receiver.stop(err);
    if (!this.closeSent) {
      const code = isValidCloseCode(err.closeCode) ? err.closeCode : CloseCode.ProtocolError;
      this.sendClose(buildClosePayload(code, err.message));
    }
    this.rejectReaders();
    this.socket.end();
    this.armCloseTimer();
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private onDeadPeer(): void {
    this.failure ??= new WebSocketError(CloseCode.Abnormal, 'The peer stopped answering pings (keepAlive)');
    this.socket.destroy();
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== null || this.state === State.Closed) return;
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.closeTimeout);
    this.closeTimer.unref();
  }

  private readonly onSocketError = (err: Error): void => {
    // A reset after we closed is routine; before, the application may want to know.
    if (!this.closeSent && this.state !== State.Closed && this.listenerCount('error') > 0) this.emit('error', err);
  };

  private readonly onSocketEnd = (): void => {
    // The peer half-closed: nothing more can arrive, so finish our side too.
    if (this.socket.writable) this.socket.end();
  };

  private readonly onSocketClose = (): void => {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.heartbeat?.stop();
    this.socket.unpipe(this.decoder);
    this.decoder.destroy();
    this.deflate?.close();

    const info: CloseInfo = {
      code: this.closeReceived ? this.peerCode : CloseCode.Abnormal,
      reason: this.closeReceived ? this.peerReason : '',
      wasClean: this.closeSent && this.closeReceived,
    };
    this.closeInfo = info;
    const closed = new CloseError(info.code, info.reason, info.wasClean);
    this.receiver.stop(this.failure ?? closed);
    this.sender.abort(closed);
    if (!this.readable.readableEnded) this.readable.push(null);
    this.rejectReaders();
    for (const waiter of this.drainWaiters.splice(0)) waiter.reject(closed);
    for (const run of this.channelQueue.splice(0)) run();
    if (!this.writable.destroyed) this.writable.destroy();
    for (const resolve of this.closeWaiters.splice(0)) resolve(info);
    this.emit('close', info);
  };

  private whenClosed(): Promise<CloseInfo> {
    if (this.closeInfo !== null) return Promise.resolve(this.closeInfo);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  // Waiting readers get the error once no more messages can come.
  private rejectReaders(): void {
    const err = this.endedError();
    if (err === null) return;
    for (const waiter of this.messageWaiters.splice(0)) waiter.reject(err);
    for (const waiter of this.readerWaiters.splice(0)) waiter.reject(err);
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
