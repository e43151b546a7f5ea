// The echo client: connects to the echo server, sends the time every second, prints what comes back,
// and on Ctrl-C sends Close 1000, waits up to a second for the server, and exits.
import { connect, isCloseError } from '../src';
import { parseAddr } from './args';

async function main(): Promise<void> {
  const { addr } = parseAddr(process.argv.slice(2));
  const url = `ws://${addr}/echo`;
  const ws = await connect(url, { origin: `http://${addr}` });
  console.log(`connected to ${url}`);

  const ticker = setInterval(() => {
    void ws.writeMessage(new Date().toISOString()).catch(() => undefined);
  }, 1000);

  process.once('SIGINT', () => {
    clearInterval(ticker);
    console.log('interrupt: closing');
    const timeout = setTimeout(() => process.exit(0), 1000);
    void ws.close(1000, 'client interrupted').then((info) => {
      console.log(`closed: ${info.code} (clean: ${info.wasClean})`);
      clearTimeout(timeout);
      process.exit(0);
    });
  });

  try {
    for await (const message of ws) console.log(`recv: ${message.data.toString('utf8')}`);
  } catch (err) {
    if (!isCloseError(err)) console.error(`read error: ${(err as Error).message}`);
  }
  clearInterval(ticker);
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
