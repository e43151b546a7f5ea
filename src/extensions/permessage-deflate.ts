// SKELETON — signatures are the contract between the handshake, the connection and this module.
// The permessage-deflate helper fills in the bodies; do not change the exported signatures without telling the others.
import type { WebSocketError } from '../errors';

/** Options of permessage-deflate (RFC 7692) for `Upgrader` and `connect()`. */
export interface PerMessageDeflateOptions {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  /** 8–15. */
  serverMaxWindowBits?: number;
  /** 8–15. */
  clientMaxWindowBits?: number;
  /** zlib compression level, 0–9. */
  level?: number;
  /** zlib memLevel, 1–9. */
  memLevel?: number;
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /** Process-wide cap on concurrent zlib jobs. */
  maxConcurrency?: number;
}

/** The parameters both sides agreed on. */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/** Server side: picks the first acceptable offer of a `Sec-WebSocket-Extensions` request header, or null. Never throws. */
export function negotiateServer(
  _header: string | undefined,
  _options: PerMessageDeflateOptions,
): { params: DeflateParams; response: string } | null {
  throw new Error('not implemented');
}

/** Client side: the `Sec-WebSocket-Extensions` offer to send. */
export function buildClientOffer(_options: PerMessageDeflateOptions): string {
  throw new Error('not implemented');
}

/** Client side: validates the server's answer; throws HandshakeError(101, message) when it cannot be honoured. */
export function acceptClientResponse(_header: string, _options: PerMessageDeflateOptions): DeflateParams {
  throw new Error('not implemented');
}

/** Callback of a zlib job. May be called synchronously or asynchronously. */
export type DeflateCallback = (err: WebSocketError | Error | null, result?: Buffer) => void;

/** One connection's compressor and decompressor. */
export class PerMessageDeflate {
  constructor(_params: DeflateParams, _options: PerMessageDeflateOptions, _isServer: boolean) {
    throw new Error('not implemented');
  }
  /** Messages below this many bytes are not worth compressing. */
  get threshold(): number {
    throw new Error('not implemented');
  }
  /** Compresses one fragment of a message (`fin` ends the message and strips the trailing 00 00 FF FF). */
  compress(_data: Buffer, _fin: boolean, _callback: DeflateCallback): void {
    throw new Error('not implemented');
  }
  /** Inflates one fragment of a compressed message; fails with WebSocketError(1009) once a message inflates past maxSize. */
  decompress(_data: Buffer, _fin: boolean, _maxSize: number, _callback: DeflateCallback): void {
    throw new Error('not implemented');
  }
  /** Frees the zlib streams. Pending callbacks are called with an error. */
  close(): void {
    throw new Error('not implemented');
  }
}
