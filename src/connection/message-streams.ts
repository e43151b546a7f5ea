import { Readable, Writable } from 'stream';
import type { MessageStreamTarget, MessageType } from './receiver';

/**
 * One incoming message as a byte stream (`nextReader()`): each frame's payload is pushed as it
 * arrives, so a message far larger than memory can be consumed. Reading slowly pauses the socket.
 * Destroying the stream early discards the rest of the message; the connection carries on.
 */
export class MessageReader extends Readable implements MessageStreamTarget {
  /** 'text' or 'binary'. */
  readonly type: MessageType;
  private readonly onDemand: () => void;

  constructor(type: MessageType, onDemand: () => void) {
    super();
    this.type = type;
    this.onDemand = onDemand;
  }

  override _read(): void {
    this.onDemand();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // Whatever is still to come of this message is dropped; let the connection read on.
    this.onDemand();
    callback(err);
  }

  /** @internal */
  pushFragment(data: Buffer): boolean {
    if (this.destroyed) return true;
    return this.push(data);
  }

  /** @internal */
  endMessage(): void {
    if (!this.destroyed) this.push(null);
  }

  /** @internal */
  failMessage(err: Error): void {
    // Only an interested consumer hears about it: an 'error' with no listener would crash the process.
    if (this.destroyed) return;
    if (this.listenerCount('error') > 0) this.destroy(err);
    else this.destroy();
  }
}

/** What a {@link MessageWriter} needs from its connection. */
export interface MessageWriterHost {
  /** Sends one frame of the message; calls back once the socket can take more. */
  sendFragment(first: boolean, fin: boolean, data: Buffer, callback: (err?: Error | null) => void): void;
  /** The writer finished (or gave up on) its message: the next message may go. */
  releaseChannel(): void;
  /** The writer was destroyed mid-message: a half-sent message cannot be taken back, so the connection must close. */
  abortMessage(err: Error | null): void;
}

/**
 * One outgoing message as a byte stream (`nextWriter()`): each write becomes a frame, `end()` sends
 * the final one. Other messages wait until it ends, so frames of two messages never interleave.
 */
export class MessageWriter extends Writable {
  /** 'text' or 'binary'. */
  readonly type: MessageType;
  private readonly host: MessageWriterHost;
  private started = false;
  private wroteFrame = false;
  private finished = false;
  private waiting: (() => void) | null = null;

  constructor(type: MessageType, host: MessageWriterHost) {
    super({ decodeStrings: true });
    this.type = type;
    this.host = host;
  }

  /** @internal Called when it is this writer's turn on the connection. */
  start(): void {
    this.started = true;
    if (this.finished) {
      // Destroyed while waiting for its turn: pass the turn on.
      this.host.releaseChannel();
      return;
    }
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting !== null) waiting();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.whenStarted(() => {
      if (chunk.length === 0) {
        callback();
        return;
      }
      const first = !this.wroteFrame;
      this.wroteFrame = true;
      this.host.sendFragment(first, false, chunk, callback);
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.whenStarted(() => {
      const first = !this.wroteFrame;
      this.wroteFrame = true;
      this.host.sendFragment(first, true, Buffer.alloc(0), (err) => {
        this.finished = true;
        this.host.releaseChannel();
        callback(err);
      });
    });
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.finished) {
      this.finished = true;
      if (this.wroteFrame) this.host.abortMessage(err);
      if (this.started) this.host.releaseChannel();
      this.waiting = null;
    }
    callback(err);
  }

  private whenStarted(run: () => void): void {
    if (this.started) run();
    else this.waiting = run;
  }
}
