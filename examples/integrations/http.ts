// wsflow on a plain `http` server: ordinary requests go to the request handler, WebSocket upgrades for
// /ws to a WebSocketServer attached to the same server (and port).
//
//   node dist/examples/integrations/http.js   →   ws://localhost:3000/ws
import * as http from 'http';
import type { AddressInfo } from 'net';
import { WebSocketServer } from '../../src';

export async function start(port = 3000): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('hello over HTTP\n');
  });
  const wss = new WebSocketServer({ server, path: '/ws' }, async (ws) => {
    try {
      for await (const message of ws) await ws.writeMessage(message.data, message.type);
    } catch {
      // The connection failed (a protocol error, or it closed mid-write): it is closed already.
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    // The WebSocketServer first (Close 1001 to every client), then the HTTP server it is attached to.
    close: async () => {
      await wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (require.main === module) void start().then(({ port }) => console.log(`ws://localhost:${port}/ws`));
