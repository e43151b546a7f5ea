// The anchors of the fan-out benchmark's cross-process cell (bench/fanout/run.ts): two of these run as
// servers, subscribers split between them, and one more as the publisher, with Redis between them.
//
//   node dist/bench/fanout/servers/redis-fanout.js --impl ws|sio --redis redis://127.0.0.1:PORT
//       (server)     [--port 0]
//       (publisher)  --publisher --payload FILE --kind text [--stamp-at N] [--window W] [--rate R]
//
// ws: the relay ws users write by hand: each server process SUBSCRIBEs once (node-redis, buffers) and
// loops over `wss.clients` for every message; the publisher PUBLISHes the payload as it is.
// sio: socket.io 4 with @socket.io/redis-adapter (PUBLISH/PSUBSCRIBE, msgpack envelopes), clients on the
// websocket transport only; every socket joins the room "bench" and the publisher, a socket.io server
// with the same adapter and no clients, does `io.to('bench').emit('m', text)`.
// The publisher follows the benchmark's pacing rule (./publisher.ts); payloads are text here (socket.io
// events carry them as JSON strings).
import * as http from 'http';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server as SocketIoServer } from 'socket.io';
import { WebSocketServer } from 'ws';
import { MAX_PAYLOAD, serveControl } from '../../e2e/servers/control';
import { parseArgs, publisherOptions, startPublisher } from './publisher';

const CHANNEL = 'bench';
const args = parseArgs(process.argv.slice(2));
const impl = args.get('impl');
const url = args.get('redis');
if ((impl !== 'ws' && impl !== 'sio') || url === undefined) throw new Error('--impl ws|sio and --redis URL are required');

async function main(): Promise<void> {
  const client = createClient({ url });
  client.on('error', (err: Error) => process.stderr.write(`redis-fanout: ${err.message}\n`));
  await client.connect();
  const subscriber = client.duplicate();
  subscriber.on('error', (err: Error) => process.stderr.write(`redis-fanout: ${err.message}\n`));
  await subscriber.connect();

  if (args.has('publisher')) {
    const o = publisherOptions(args);
    if (o === null) throw new Error('--publisher needs --payload');
    let publish: (data: Buffer) => void;
    if (impl === 'ws') {
      publish = (data) => {
        client.publish(CHANNEL, data).catch(() => undefined);
      };
    } else {
      const io = new SocketIoServer({ adapter: createAdapter(client, subscriber) });
      publish = (data) => {
        io.to(CHANNEL).emit('m', data.toString('latin1'));
      };
    }
    const controlPort = await startPublisher(o, publish);
    serveControl(0, { impl, role: 'publisher', controlPort });
    return;
  }

  const httpServer = http.createServer();
  if (impl === 'ws') {
    const wss = new WebSocketServer({ server: httpServer, maxPayload: MAX_PAYLOAD });
    wss.on('connection', (ws) => ws.on('error', () => undefined));
    await subscriber.subscribe(
      CHANNEL,
      (message: Buffer) => {
        for (const c of wss.clients) c.send(message, { binary: false });
      },
      true,
    );
  } else {
    const io = new SocketIoServer(httpServer, { transports: ['websocket'], serveClient: false, adapter: createAdapter(client, subscriber) });
    io.on('connection', (socket) => {
      void socket.join(CHANNEL);
    });
  }
  await new Promise<void>((resolve) => httpServer.listen(Number(args.get('port') ?? 0), '127.0.0.1', resolve));
  serveControl((httpServer.address() as { port: number }).port, { impl, role: 'server' });
}

main().catch((err: unknown) => {
  process.stderr.write(`redis-fanout: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
