// wsflow with Koa: `app.callback()` handles requests on an http.Server that a WebSocketServer shares for
// /ws. As with Express, upgrade requests bypass Koa's middleware.
//
//   node dist/examples/integrations/koa.js   →   ws://localhost:3000/ws
import * as http from 'http';
import Koa from 'koa';
import type { AddressInfo } from 'net';
import { WebSocketServer } from '../../src';

export async function start(port = 3000): Promise<{ port: number; close: () => Promise<void> }> {
  const app = new Koa();
  app.use((ctx) => {
    ctx.body = 'hello from Koa\n';
  });
  const server = http.createServer(app.callback());
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
    close: async () => {
      await wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (require.main === module) void start().then(({ port }) => console.log(`ws://localhost:${port}/ws`));
