// wsflow fan-out server of the fan-out benchmark (bench/fanout/run.ts): every connection subscribes to
// one topic of a `Hub`, and each publish is `hub.publish(topic, data, { type })` (framed — and
// compressed — once, the same bytes written to every subscriber), paced by the benchmark's publisher
// rule (./publisher.ts).
//
//   node --expose-gc dist/bench/fanout/servers/wsflow-fanout.js --payload FILE [--kind binary|text]
//       [--stamp-at N] [--window W] [--rate R] [--compress] [--backpressure-limit BYTES]
//
// --compress: permessage-deflate (level 1, threshold 1 KiB, the library's defaults); the subscribers ask
// for server_no_context_takeover, so all of them share one compressed frame per publish.
// --track-buffered: samples the largest `bufferedAmount` of any connection every 50 ms (the slow-consumer
// cell's evidence that the backpressure limit holds), answered to `maxbuf` as "MAXBUF <bytes>".
// `sub N` on stdin (memory cell) subscribes every open connection to N more topics and answers
// "SUB <subscriptions>".
import { DEFAULT_BACKPRESSURE_LIMIT, Hub, WebSocketServer, type HubOptions, type WebSocket } from '../../../src';
import { MAX_PAYLOAD, serveControl } from '../../e2e/servers/control';
import { parseArgs, publisherOptions, startPublisher } from './publisher';

const args = parseArgs(process.argv.slice(2));
const o = publisherOptions(args);
const compression = args.has('compress');
const TOPIC = 'bench';

const hubOptions: HubOptions = {};
if (args.has('backpressure-limit')) hubOptions.backpressureLimit = Number(args.get('backpressure-limit'));
const hub = new Hub(hubOptions);
const backpressureLimit = hubOptions.backpressureLimit ?? DEFAULT_BACKPRESSURE_LIMIT;
hub.on('error', () => undefined);

const open = new Set<WebSocket>();
const wss = new WebSocketServer(
  { port: 0, host: '127.0.0.1', upgrader: { compression, maxPayload: MAX_PAYLOAD } },
  (ws) => {
    ws.on('error', () => undefined);
    open.add(ws);
    ws.on('close', () => open.delete(ws));
    if (o !== null) hub.subscribe(ws, TOPIC);
  },
);
wss.on('error', () => undefined);

let maxBuffered = 0;
if (args.has('track-buffered')) {
  setInterval(() => {
    for (const ws of open) if (ws.bufferedAmount > maxBuffered) maxBuffered = ws.bufferedAmount;
  }, 50).unref();
}

function subscribeAll(n: number): string {
  let count = 0;
  for (const ws of open) {
    for (let t = 0; t < n; t++) {
      hub.subscribe(ws, `topic-${t}`);
      count++;
    }
  }
  return `SUB ${count}`;
}

void wss.listen().then(async (address) => {
  const commands = { sub: (arg: string) => subscribeAll(Number(arg)), dropped: () => `DROPPED ${hub.stats.dropped}`,
    maxbuf: () => `MAXBUF ${maxBuffered}`,
  };
  if (o === null) {
    serveControl(address.port, { impl: 'wsflow', compression, controlPort: 0, backpressureLimit }, commands);
    return;
  }
  const type = o.text ? 'text' : 'binary';
  const controlPort = await startPublisher(o, (data) => {
    hub.publish(TOPIC, data, { type });
  });
  serveControl(address.port, { impl: 'wsflow', compression, controlPort, backpressureLimit }, commands);
});
