// ws fan-out server of the fan-out benchmark (bench/fanout/run.ts): the loop of ws's README,
// `wss.clients.forEach((client) => client.send(data, { binary }))` (here `for … of`), paced by the
// benchmark's publisher rule (./publisher.ts).
//
//   [WS_NO_BUFFER_UTIL=1] node --expose-gc dist/bench/fanout/servers/ws-fanout.js --payload FILE
//       [--kind binary|text] [--stamp-at N] [--window W] [--rate R] [--compress]
//
// --compress turns on ws's permessage-deflate (its defaults: zlib level 6, threshold 1 KiB; it accepts
// the subscribers' server_no_context_takeover), which compresses each message once per connection.
// `sub N` on stdin (memory cell) subscribes every open connection to N topics in the registry ws users
// write by hand, a Map from topic to a Set of sockets, and answers "SUB <subscriptions>".
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_PAYLOAD, serveControl } from '../../e2e/servers/control';
import { parseArgs, publisherOptions, startPublisher } from './publisher';

const args = parseArgs(process.argv.slice(2));
const o = publisherOptions(args);
const compress = args.has('compress');

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: compress, maxPayload: MAX_PAYLOAD });
wss.on('connection', (ws) => {
  ws.on('error', () => undefined);
});

const topics = new Map<string, Set<WebSocket>>();
function subscribeAll(n: number): string {
  let count = 0;
  for (const ws of wss.clients) {
    for (let t = 0; t < n; t++) {
      const name = `topic-${t}`;
      let set = topics.get(name);
      if (set === undefined) topics.set(name, (set = new Set()));
      set.add(ws);
      count++;
    }
  }
  return `SUB ${count}`;
}

wss.on('listening', () => {
  const address = wss.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const binary = o === null || !o.text;
  const ready = (controlPort: number): void =>
    serveControl(port, { impl: 'ws', compression: compress, controlPort }, { sub: (arg) => subscribeAll(Number(arg)) });
  if (o === null) ready(0);
  else
    void startPublisher(o, (data) => {
      for (const client of wss.clients) client.send(data, { binary });
    }).then(ready);
});
