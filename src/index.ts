// The public surface of wsflow. Everything not exported here is internal and may change.
export { Opcode, isControlOpcode } from './codec/frame';
export type { Frame, FrameInput } from './codec/frame';
export { FrameDecoder } from './codec/frame-decoder';
export type { FrameDecoderOptions } from './codec/frame-decoder';
export { FrameEncoder } from './codec/frame-encoder';
export type { FrameEncoderOptions } from './codec/frame-encoder';
export { FrameParser, DEFAULT_MAX_PAYLOAD } from './codec/frame-parser';
export type { FrameParserOptions, FrameHandler, PayloadObserver } from './codec/frame-parser';
export { serializeFrame, writeFrameHeader, frameHeaderLength, firstHeaderByte } from './codec/frame-serializer';
export { applyMask, maskImplementation } from './codec/mask';
export { isValidUtf8, Utf8Validator } from './codec/utf8';
export { parseClosePayload, buildClosePayload, isValidCloseCode, MAX_CLOSE_REASON_BYTES } from './codec/close-payload';
export {
  WebSocketError,
  CloseError,
  HandshakeError,
  ProxyError,
  CloseCode,
  isCloseError,
  isUnexpectedCloseError,
} from './errors';
export { WebSocket, MessageReader, MessageWriter, DEFAULT_CLOSE_TIMEOUT } from './connection/websocket';
export type { Message, MessageType, CloseInfo, WriteOptions, WebSocketOptions, WebSocketEvents } from './connection/websocket';
export type { KeepAliveOptions } from './connection/keepalive';
export { Upgrader, DEFAULT_HANDSHAKE_TIMEOUT, writeHandshakeError, checkSameOrigin } from './handshake/server';
export type { UpgraderOptions } from './handshake/server';
export { connect, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_REDIRECTS } from './handshake/client';
export type { ConnectOptions, ConnectTlsOptions, ProxyOption, CreateConnection, TransportOptions } from './handshake/client';
export { reconnect, defaultShouldRetry, RECONNECT_DEFAULTS } from './client/reconnect';
export type { ReconnectOptions, RetryInfo, RetryReason } from './client/reconnect';
export { WebSocketServer } from './server';
export { Hub, MAX_TOPIC_LENGTH, DEFAULT_BACKPRESSURE_LIMIT } from './fanout/hub';
export type { HubOptions, PublishOptions, HubStats, HubEvents } from './fanout/hub';
export { PreparedMessage } from './connection/prepared-message';
export type { Broker, BrokerStatus } from './brokers/broker';
export type { WebSocketServerOptions } from './server';
export type { PerMessageDeflateOptions } from './extensions/permessage-deflate';
export { createMessageDuplex, createByteDuplex } from './streams/duplex';
export type { MessageChunk, WebSocketDuplexOptions, ByteDuplexOptions } from './streams/duplex';
export { WebSocketStream, WebSocketStreamError, upgradeToWebSocketStream } from './streams/websocket-stream';
export type {
  WebSocketStreamOptions,
  WebSocketStreamServerOptions,
  WebSocketStreamOpenInfo,
  WebSocketStreamCloseInfo,
  WebSocketStreamChunk,
} from './streams/websocket-stream';
export { WebSocket as StandardWebSocket, CloseEvent } from './standard/websocket';
export type { BinaryType, SendData, CloseEventInit, StandardWebSocketOptions } from './standard/websocket';
