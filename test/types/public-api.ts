// Type tests of the public surface: each `@ts-expect-error` line is misuse the compiler must reject, so the
// check (`types.test.ts`, and `npm run typecheck`) fails if any of them starts to compile. The rest pins
// down the types that correct code relies on. Never executed: type-checked only.
import type { Duplex } from 'stream';
import {
  CloseEvent,
  connect,
  createByteDuplex,
  createMessageDuplex,
  StandardWebSocket,
  Upgrader,
  upgradeToWebSocketStream,
  WebSocketServer,
  WebSocketStream,
  WebSocketStreamError,
} from '../../src';
import type { CloseInfo, Message, MessageType, WebSocket, WebSocketStreamOpenInfo } from '../../src';
import { WebSocket as StandardFromSubpath } from '../../src/standard';

/** Fails to compile unless A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | void {
  return undefined;
}

export async function connection(ws: WebSocket): Promise<void> {
  // --- correct use ---
  const m: Message = await ws.readMessage();
  const t: MessageType = m.type;
  await ws.writeMessage('text');
  await ws.writeMessage(new Uint8Array(1), 'binary', { compress: false });
  const info: CloseInfo = await ws.close(1000, 'bye');
  assertType<Equal<typeof ws.readyState, 'open' | 'closing' | 'closed'>>();
  void [t, info];

  // --- misuse ---
  // @ts-expect-error a number is not a message
  await ws.writeMessage(123);
  // @ts-expect-error only 'text' and 'binary' exist
  ws.nextWriter('json');
  // @ts-expect-error only 'text' and 'binary' exist
  await ws.writeMessage('x', 'json');
  // @ts-expect-error the close code is a number
  await ws.close('1000');
  // @ts-expect-error readyState is a string union without 'connecting'
  if (ws.readyState === 'connecting') return;
  // @ts-expect-error protocol is read-only
  ws.protocol = 'chat';
  // @ts-expect-error compress is a boolean
  await ws.writeMessage('x', 'text', { compress: 'yes' });
}

export function handshake(): void {
  new Upgrader({ maxPayload: 1024, subprotocols: ['chat'], compression: true });
  // @ts-expect-error maxPayload is a number
  new Upgrader({ maxPayload: 'big' });
  // @ts-expect-error subprotocols is an array
  new Upgrader({ subprotocols: 'chat' });
  // @ts-expect-error unknown option
  new Upgrader({ maxPayloadSize: 10 });
  // @ts-expect-error the URL is a string or a URL
  void connect(42);
  // @ts-expect-error protocols is a string array
  void connect('ws://x', { protocols: 'chat' });
  // @ts-expect-error port is a number
  new WebSocketServer({ port: '8080' });
}

export function nodeStreams(ws: WebSocket): void {
  const a: Duplex = createMessageDuplex(ws);
  const b: Duplex = createByteDuplex(ws, { type: 'text', closeOnFinish: false });
  void [a, b];
  // @ts-expect-error only 'text' and 'binary' exist
  createByteDuplex(ws, { type: 'json' });
  // @ts-expect-error a WebSocket is required
  createMessageDuplex({});
}

export async function whatwgStreams(): Promise<void> {
  const wss = new WebSocketStream('ws://x', { protocols: ['chat'], signal: AbortSignal.timeout(1000) });
  const opened: WebSocketStreamOpenInfo = await wss.opened;
  assertType<Equal<typeof opened.readable, ReadableStream<string | Uint8Array>>>();
  const writer = opened.writable.getWriter();
  await writer.write('text');
  await writer.write(new Uint8Array(1));
  await writer.write(new ArrayBuffer(1));
  const closed: { closeCode: number; reason: string } = await wss.closed;
  wss.close({ closeCode: 4000, reason: 'done' });
  void closed;
  void new WebSocketStreamError('x', { closeCode: 4000 });
  void upgradeToWebSocketStream;

  // @ts-expect-error a number is not a chunk
  await writer.write(42);
  // @ts-expect-error protocols are strings
  new WebSocketStream('ws://x', { protocols: [1] });
  // @ts-expect-error closeCode, not code
  wss.close({ code: 1000 });
}

export function standardFacade(): void {
  const ws = new StandardWebSocket('ws://x', ['chat'], { handshakeTimeout: 1000 });
  const same: typeof StandardFromSubpath = StandardWebSocket;
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (ev) => void ev.data;
  ws.onclose = (ev) => {
    const closeEvent: CloseEvent = ev;
    const code: number = ev.code;
    const clean: boolean = ev.wasClean;
    void [closeEvent, code, clean];
  };
  ws.send('x');
  ws.send(new Blob(['x']));
  ws.send(new ArrayBuffer(1));
  ws.send(new DataView(new ArrayBuffer(1)));
  ws.close(1000, 'bye');
  const state: number = ws.readyState;
  const open: 1 = StandardWebSocket.OPEN;
  void [same, state, open];

  // @ts-expect-error not a binaryType
  ws.binaryType = 'blobby';
  // @ts-expect-error a number cannot be sent
  ws.send(123);
  // @ts-expect-error the close code is a number
  ws.close('1000');
  // @ts-expect-error the constants are read-only
  StandardWebSocket.OPEN = 2;
  // @ts-expect-error url is read-only
  ws.url = 'ws://y';
  // @ts-expect-error protocols are strings
  new StandardWebSocket('ws://x', [1]);
}
