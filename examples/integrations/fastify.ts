// wsflow with Fastify: Fastify owns the http.Server (`app.server`); a WebSocketServer attaches to it for
// /ws. Close the WebSocketServer before Fastify, whose close() waits for every connection to end.
//
//   node dist/examples/integrations/fastify.js   →   ws://localhost:3000/ws
import Fastify from 'fastify';
import { WebSocketServer } from '../../src';

export async function start(port = 3000): Promise<{ port: number; close: () => Promise<void> }> {
  const app = Fastify();
  app.get('/', async () => 'hello from Fastify\n');
  const wss = new WebSocketServer({ server: app.server, path: '/ws' }, async (ws) => {
    try {
      for await (const message of ws) await ws.writeMessage(message.data, message.type);
    } catch {
      // The connection failed (a protocol error, or it closed mid-write): it is closed already.
    }
  });
  await app.listen({ port, host: '127.0.0.1' });
  const address = app.server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : port,
    close: async () => {
      await wss.close();
      await app.close();
    },
  };
}

if (require.main === module) void start().then(({ port }) => console.log(`ws://localhost:${port}/ws`));
