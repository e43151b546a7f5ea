// The echo server: `/echo` echoes every message with its type (and logs it); `/` serves a page with
// Open, Close and Send buttons. Run it with `npm start` (or `npm start -- --addr 0.0.0.0:9000`).
import * as http from 'http';
import { WebSocketServer } from '../src';
import { parseAddr } from './args';
import { echoPage } from './echo-page';
import { servePage } from './page';

const { host, port } = parseAddr(process.argv.slice(2));
const page = echoPage('/echo');

const server = http.createServer(servePage(page));

const wss = new WebSocketServer({ server, path: '/echo', upgrader: { compression: true } }, async (ws, req) => {
  const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  console.log(`${peer} connected`);
  ws.on('close', ({ code, reason }) => console.log(`${peer} closed: ${code}${reason ? ` ${reason}` : ''}`));
  try {
    for await (const message of ws) {
      const shown = message.type === 'text' ? message.data.toString('utf8') : `<${message.data.length} bytes>`;
      console.log(`${peer} recv ${message.type}: ${shown.length > 200 ? `${shown.slice(0, 200)}…` : shown}`);
      await ws.writeMessage(message.data, message.type);
    }
  } catch (err) {
    console.log(`${peer} error: ${(err as Error).message}`);
  }
});
wss.on('handshakeError', (err: Error) => console.log(`handshake refused: ${err.message}`));

server.listen(port, host, () => {
  const address = server.address() as import('net').AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  console.log(`wsflow echo server on http://${host === 'localhost' ? 'localhost' : shownHost}:${address.port}/ (WebSocket at /echo)`);
});

let stopping = false;
const stop = (): void => {
  if (stopping) process.exit(1);
  stopping = true;
  console.log('shutting down: closing connections with 1001');
  void wss.close().then(() => server.close(() => process.exit(0)));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
