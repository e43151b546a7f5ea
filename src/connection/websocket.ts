// SKELETON — replaced by the real connection. The constructor signature is the contract with the handshake.
import { EventEmitter } from 'events';
import type * as stream from 'stream';
import type { PerMessageDeflate } from '../extensions/permessage-deflate';

/** Settings of one connection, filled in by the handshake. */
export interface WebSocketOptions {
  isServer: boolean;
  /** Subprotocol agreed in the handshake ('' for none). */
  protocol?: string;
  /** Sec-WebSocket-Extensions value agreed in the handshake ('' for none). */
  extensions?: string;
  /** Largest message (and frame) accepted, in bytes. Default 64 MiB. */
  maxPayload?: number;
  /** The agreed permessage-deflate, if any. */
  deflate?: PerMessageDeflate | null;
  /** Ping every `interval` ms; terminate when no pong came `timeout` ms after a ping. */
  keepAlive?: { interval: number; timeout: number } | false;
  /** How long to wait for the peer's Close (and, on the client, the TCP close) before terminating. Default 5000 ms. */
  closeTimeout?: number;
  /** Close with 1008 when more than this many bytes wait to be sent. Default: no limit. */
  maxBufferedAmount?: number;
}

export class WebSocket extends EventEmitter {
  constructor(_socket: stream.Duplex, _head: Buffer, _options: WebSocketOptions) {
    super();
    throw new Error('not implemented');
  }
}
