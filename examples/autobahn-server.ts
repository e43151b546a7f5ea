// A fuzz target for the Autobahn TestSuite's fuzzing client (`wstest -m fuzzingclient`): an echo server on
// every path that answers each message with the same bytes and type, with permessage-deflate on (every
// window size 8–15 and both no_context_takeover flags accepted, as the 12.x/13.x cases offer them) and a
// 64 MiB message limit (the 9.x limits cases send up to 16 MiB). It logs nothing per message.
//
//   node dist/examples/autobahn-server.js --addr 127.0.0.1:9001
//
// See docs/conformance.md for the fuzzingclient.json to point at it.
import type { AddressInfo } from 'net';
import { WebSocketServer } from '../src';
import { parseAddr } from './args';

/** Autobahn's 9.x cases send messages of up to 16 MiB; leave room above that. */
export const AUTOBAHN_MAX_PAYLOAD = 64 * 1024 * 1024;

/** Starts the echo server and resolves with it and the address it listens on. */
export async function startAutobahnServer(host: string, port: number): Promise<{ wss: WebSocketServer; address: AddressInfo }> {
  const wss = new WebSocketServer(
    {
      host,
      port,
      upgrader: {
        // The fuzzing client sends an Origin header; this server holds nothing worth protecting from CSWSH.
        checkOrigin: () => true,
        compression: true,
        maxPayload: AUTOBAHN_MAX_PAYLOAD,
      },
    },
    async (ws) => {
      try {
        for await (const message of ws) await ws.writeMessage(message.data, message.type);
      } catch {
        // A protocol violation (the point of most cases): wsflow has already failed the connection with the
        // right close code. Nothing to add, and a fuzz target should stay quiet.
      }
    },
  );
  const address = await wss.listen();
  return { wss, address };
}

if (require.main === module) {
  const { host, port } = parseAddr(process.argv.slice(2), '127.0.0.1:9001');
  startAutobahnServer(host, port).then(
    ({ wss, address }) => {
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      console.log(`wsflow Autobahn echo server on ws://${shownHost}:${address.port}/`);
      let stopping = false;
      const stop = (): void => {
        if (stopping) process.exit(1);
        stopping = true;
        void wss.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
