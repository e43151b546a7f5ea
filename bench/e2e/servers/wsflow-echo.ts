// wsflow echo server for the end-to-end benchmark (bench/run.ts).
//
//   node --expose-gc dist/bench/e2e/servers/wsflow-echo.js [--port 0] [--compress] [--api event|await|data|pipe|event-retain]
//
// The default API, `event`, is the exact analog of the ws echo server it is compared with:
// `ws.on('message', (data, type) => ws.writeMessage(data, type))` — no queue, no backpressure, like
// ws's `on('message')` + `send()`. `await` is the README's backpressured idiom
// (`for await (const m of ws) await ws.writeMessage(m.data, m.type)`); `data` (readable.on('data')) and
// `pipe` (readable.pipe(writable)) compare the stream APIs: `npm run bench -- --wsflow-api await`.
// `event-retain` is `event` keeping each connection's last message until the next one arrives, as a parked
// `for await` loop does (V8 keeps the loop's binding alive while it waits): it separates that cost of the
// consumer's code from the library's (`--wsflow-api event-retain --impls wsflow,wsflow-await`).
import { WebSocketServer, maskImplementation, type WebSocket } from '../../../src';
import { MAX_PAYLOAD, parseArgs, serveControl } from './control';

const args = parseArgs(process.argv.slice(2));
// `--mask wasm|bufferutil`: the masking this variant is meant to measure (set by its environment).
const expectedMask = args.get('mask');
if (expectedMask !== undefined && expectedMask !== maskImplementation) {
  console.error(`wsflow-echo: masking with ${maskImplementation}, expected ${expectedMask}`);
  process.exit(1);
}
const api = args.get('api') ?? 'event';
const compression = args.has('compress');

function noop(): void {
  /* the connection went away mid-echo: nothing to do */
}

const handlers: Record<string, (ws: WebSocket) => void> = {
  await: (ws) => {
    void (async () => {
      for await (const m of ws) await ws.writeMessage(m.data, m.type);
    })().catch(noop);
  },
  event: (ws) => {
    ws.on('message', (data, type) => {
      ws.writeMessage(data, type).catch(noop);
    });
  },
  'event-retain': (ws) => {
    let last: Buffer | null = null;
    ws.on('message', (data, type) => {
      last = data;
      ws.writeMessage(last, type).catch(noop);
    });
  },
  data: (ws) => {
    ws.readable.on('data', (m: { data: Buffer; type: 'text' | 'binary' }) => {
      ws.writeMessage(m.data, m.type).catch(noop);
    });
  },
  pipe: (ws) => {
    ws.writable.on('error', noop);
    ws.readable.pipe(ws.writable);
  },
};
const handler = handlers[api];
if (handler === undefined) throw new Error(`unknown --api ${api}`);
// --log-errors: report every connection failure on stderr (for debugging the benchmark, not when measuring).
const logErrors = args.has('log-errors');
const onConnection = (ws: WebSocket): void => {
  if (logErrors) {
    ws.on('error', (err: Error) => process.stderr.write(`wsflow-echo: connection error: ${err.message}\n`));
    ws.on('close', (info: { code: number; reason: string }) => {
      if (info.code !== 1000) process.stderr.write(`wsflow-echo: closed ${info.code} ${info.reason}\n`);
    });
  }
  handler(ws);
};

const wss = new WebSocketServer(
  {
    port: Number(args.get('port') ?? 0),
    host: args.get('host') ?? '127.0.0.1',
    upgrader: { compression, maxPayload: MAX_PAYLOAD },
  },
  onConnection,
);
wss.on('error', noop);
void wss.listen().then((address) => serveControl(address.port, { impl: 'wsflow', api, compression }));
