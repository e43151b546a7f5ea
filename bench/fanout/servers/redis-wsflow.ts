// wsflow in the fan-out benchmark's cross-process cell (bench/fanout/run.ts): a `Hub` with a
// `RedisBroker` in each process. Two run as servers (every connection subscribes to the topic; the hub
// subscribes the broker channel while it has a local subscriber), one more as the publisher: a hub with
// no local subscriber whose `hub.publish()` only goes to the broker.
//
//   node dist/bench/fanout/servers/redis-wsflow.js --redis redis://127.0.0.1:PORT
//       (server)     [--port 0]
//       (publisher)  --publisher --payload FILE --kind text [--stamp-at N] [--window W] [--rate R]
import { createClient } from 'redis';
import { Hub, WebSocketServer } from '../../../src';
import { RedisBroker } from '../../../src/brokers/redis';
import { MAX_PAYLOAD, serveControl } from '../../e2e/servers/control';
import { parseArgs, publisherOptions, startPublisher } from './publisher';

const TOPIC = 'bench';
const args = parseArgs(process.argv.slice(2));
const url = args.get('redis');
if (url === undefined) throw new Error('--redis URL is required');

async function main(): Promise<void> {
  const client = createClient({ url });
  client.on('error', (err: Error) => process.stderr.write(`redis-wsflow: ${err.message}\n`));
  await client.connect();
  const hub = new Hub({ broker: new RedisBroker({ client }) });
  hub.on('error', (err) => process.stderr.write(`redis-wsflow: hub: ${err.message}\n`));

  if (args.has('publisher')) {
    const o = publisherOptions(args);
    if (o === null) throw new Error('--publisher needs --payload');
    const type = o.text ? 'text' : 'binary';
    const controlPort = await startPublisher(o, (data) => {
      hub.publish(TOPIC, data, { type });
    });
    serveControl(0, { impl: 'wsflow', role: 'publisher', controlPort });
    return;
  }

  const wss = new WebSocketServer(
    { port: Number(args.get('port') ?? 0), host: '127.0.0.1', upgrader: { maxPayload: MAX_PAYLOAD } },
    (ws) => {
      ws.on('error', () => undefined);
      hub.subscribe(ws, TOPIC);
    },
  );
  wss.on('error', () => undefined);
  const address = await wss.listen();
  serveControl(address.port, { impl: 'wsflow', role: 'server' });
}

main().catch((err: unknown) => {
  process.stderr.write(`redis-wsflow: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
