import { Readable } from 'stream';
import type { Duplex } from 'stream';

// RFC 8441 §5: over HTTP/2, what a TCP reset is for an HTTP/1.1 WebSocket is a RST_STREAM with CANCEL. node resets a
// stream destroyed without an error with NO_ERROR, one destroyed with its own AbortError with CANCEL, and one
// destroyed with any other error with INTERNAL_ERROR. That AbortError class is internal to node, so it is taken from
// a stream that an already-aborted signal destroys, and used only if it is what it claims to be.
const STREAM_ABORT: Error | null = (() => {
  const probe = new Readable({ read: () => undefined, signal: AbortSignal.abort() });
  probe.on('error', () => undefined);
  const err = probe.errored;
  if (err === null || err.name !== 'AbortError' || err.constructor === Error) return null;
  const AbortErrorClass = err.constructor as new (message: string) => Error;
  return new AbortErrorClass('The WebSocket dropped its HTTP/2 stream');
})();

/** True for the error {@link dropTransport} destroys an HTTP/2 stream with: our doing, not the peer's. */
export function isDropError(err: Error): boolean {
  return err === STREAM_ABORT;
}

/**
 * Drops a connection's transport at once: a TCP socket is destroyed, an HTTP/2 stream is reset with CANCEL
 * (RFC 8441 §5), never its session.
 */
export function dropTransport(socket: Duplex): void {
  if (STREAM_ABORT !== null && !socket.destroyed && 'rstCode' in socket) socket.destroy(STREAM_ABORT);
  else socket.destroy();
}
