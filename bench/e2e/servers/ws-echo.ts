// ws echo server for the end-to-end benchmark (bench/run.ts).
//
//   [WS_NO_BUFFER_UTIL=1] node --expose-gc dist/bench/e2e/servers/ws-echo.js [--port 0] [--compress] [--bufferutil]
//
// ws decides when it is first required whether to use the bufferutil addon (unless WS_NO_BUFFER_UTIL is
// set); `--bufferutil` asserts that it does, its absence that it does not, so a variant can never be
// measured as the other by mistake.
import * as path from 'path';
import { WebSocketServer } from 'ws';
import { MAX_PAYLOAD, parseArgs, serveControl } from './control';

const args = parseArgs(process.argv.slice(2));
const wantAddon = args.has('bufferutil');
const perMessageDeflate = args.has('compress');

// ws's own module (same file, so the same instance ws uses; its package "exports" hides the subpath).
const wsLib = path.join(path.dirname(require.resolve('ws')), 'lib');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const bufferUtil = require(path.join(wsLib, 'buffer-util.js')) as { mask: (...a: unknown[]) => void };
const usesAddon = bufferUtil.mask.toString().includes('bufferUtil.mask');
if (usesAddon !== wantAddon) {
  process.stderr.write(`ws-echo: bufferutil ${usesAddon ? 'is' : 'is not'} in use, expected the opposite\n`);
  process.exit(2);
}

const wss = new WebSocketServer({
  host: args.get('host') ?? '127.0.0.1',
  port: Number(args.get('port') ?? 0),
  perMessageDeflate,
  maxPayload: MAX_PAYLOAD,
});
wss.on('connection', (ws) => {
  ws.on('error', () => undefined);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  const address = wss.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  serveControl(port, { impl: 'ws', bufferutil: usesAddon, compression: perMessageDeflate });
});
