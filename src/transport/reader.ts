// Reads a proxy's answers off a socket, a few bytes at a time, before the socket is handed to the handshake.
import type { Duplex } from 'stream';

/**
 * Collects what the proxy sends while the client talks to it. Reads wait for enough bytes, or fail with
 * the error given by `onClosed` when the proxy hangs up, or with the socket's error, or with the error
 * passed to {@link ProxyReader.fail} (an abort or a timeout). {@link ProxyReader.release} gives the
 * socket back, refusing it when the proxy sent more than was asked for: a WebSocket server never speaks
 * first, so bytes after the proxy's answer can only be garbage.
 */
export class ProxyReader {
  private chunks: Buffer[] = [];
  private length = 0;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.length += chunk.length;
    this.notify();
  };
  private readonly onEnd = (): void => this.fail(this.onClosed());
  private readonly onError = (err: Error): void => this.fail(err);

  constructor(
    private readonly socket: Duplex,
    private readonly onClosed: () => Error,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Fails the pending and future reads with `err` (the first failure wins). */
  fail(err: Error): void {
    if (this.failure === null) this.failure = err;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private async until(ready: () => boolean): Promise<void> {
    while (!ready()) {
      if (this.failure !== null) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    if (this.failure !== null) throw this.failure;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.length);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** Exactly `n` bytes. */
  async read(n: number): Promise<Buffer> {
    await this.until(() => this.length >= n);
    return this.take(n);
  }

  /**
   * An HTTP response head, up to and including the blank line. `tooLong` is thrown when `max` bytes
   * came without one, so a proxy cannot make the client buffer without bound.
   */
  async readHead(max: number, tooLong: () => Error): Promise<string> {
    let end = -1;
    await this.until(() => {
      const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.length);
      this.chunks = all.length > 0 ? [all] : [];
      end = all.indexOf('\r\n\r\n', 0, 'latin1');
      if (end === -1 && all.length >= max) this.fail(tooLong());
      return end !== -1;
    });
    return this.take(end + 4).toString('latin1');
  }

  /** Stops listening; a failure when bytes beyond the answers were received. */
  release(extra: () => Error): void {
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    this.socket.removeListener('close', this.onEnd);
    this.socket.removeListener('error', this.onError);
    if (this.length > 0) throw extra();
  }
}
