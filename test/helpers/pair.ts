import * as net from 'net';
import { WebSocket, WebSocketOptions } from '../../src/connection/websocket';

/** Two raw TCP sockets connected over loopback. */
export async function socketPair(): Promise<{ server: net.Socket; client: net.Socket; close: () => void }> {
  const listener = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const server = await accepted;
  listener.close();
  return {
    server,
    client,
    close: () => {
      server.destroy();
      client.destroy();
    },
  };
}

type Side = Partial<Omit<WebSocketOptions, 'isServer'>>;

/** A server WebSocket and a client WebSocket talking over loopback TCP, handshake skipped. */
export async function wsPair(serverOptions: Side = {}, clientOptions: Side = {}): Promise<{ server: WebSocket; client: WebSocket }> {
  const { server, client } = await socketPair();
  return {
    server: new WebSocket(server, Buffer.alloc(0), { isServer: true, ...serverOptions }),
    client: new WebSocket(client, Buffer.alloc(0), { isServer: false, ...clientOptions }),
  };
}

/** Resolves with the 'close' info of `ws`. */
export function closed(ws: WebSocket): Promise<{ code: number; reason: string; wasClean: boolean }> {
  return new Promise((resolve) => ws.once('close', resolve));
}
