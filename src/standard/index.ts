// `wsflow/standard`: the browser's WebSocket API (and WebSocketStream) for code that should run unchanged
// in browsers and on Node. The names are the browser's, so `import { WebSocket } from 'wsflow/standard'`
// can replace the global.
export { WebSocket, CloseEvent } from './websocket';
export type { BinaryType, SendData, CloseEventInit, StandardWebSocketOptions } from './websocket';
export {
  WebSocketStream,
  WebSocketStreamError,
  WebSocketStreamError as WebSocketError,
  upgradeToWebSocketStream,
} from '../streams/websocket-stream';
export type {
  WebSocketStreamOptions,
  WebSocketStreamOpenInfo,
  WebSocketStreamCloseInfo,
  WebSocketStreamChunk,
  WebSocketStreamServerOptions,
} from '../streams/websocket-stream';
