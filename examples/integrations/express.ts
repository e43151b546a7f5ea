// wsflow with Express: Express handles requests, a WebSocketServer on the same http.Server handles the
// upgrades for /ws. Express never sees upgrade requests (Node emits 'upgrade', not 'request', for them),
// so its middleware does not run for them: authenticate in `checkOrigin` or before `Upgrader.upgrade()`.
//
//   node dist/examples/integrations/express.js   →   ws://localhost:3000/ws
import express from 'express';
import * as http from 'http';
import type { AddressInfo } from 'net';
import { WebSocketServer } from '../../src';

export async function start(port = 3000): Promise<{ port: number; close: () => Promise<void> }> {
  const app = express();
  app.get('/', (_req, res) => {
    res.send('hello from Express\n');
  });
  const server = http.createServer(app);
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
