// A client for the Autobahn TestSuite's fuzzing server (`wstest -m fuzzingserver`). It follows the
// fuzzingserver protocol: read the number of cases from /getCaseCount, run each case on
// /runCase?case=N&agent=…, echoing every message with its type until the server closes, then ask for the
// reports with /updateReports?agent=…. Compression (permessage-deflate) is offered, messages up to 64 MiB.
//
//   node dist/examples/autobahn-client.js --url ws://127.0.0.1:9001 [--agent wsflow]
//
// A case that fails (a refused handshake, a protocol error — which is what many cases test) is reported
// and the next one runs. See docs/conformance.md for the fuzzingserver.json to start the server with.
import { connect, type CloseInfo, type ConnectOptions } from '../src';

/** Autobahn's 9.x cases send messages of up to 16 MiB; leave room above that. */
export const AUTOBAHN_MAX_PAYLOAD = 64 * 1024 * 1024;

/** A case still running after this long is abandoned (the connection is terminated). */
const CASE_TIMEOUT = 120_000;

const OPTIONS: ConnectOptions = { compression: true, maxPayload: AUTOBAHN_MAX_PAYLOAD };

/** Reads `--name value` from the command line. */
function option(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

/** Connects to the case-count endpoint and returns the count the server sends as a text message. */
async function getCaseCount(base: string): Promise<number> {
  const ws = await connect(`${base}/getCaseCount`, OPTIONS);
  try {
    const message = await ws.readMessage();
    const text = message.data.toString('utf8');
    const count = Number(text);
    if (message.type !== 'text' || !Number.isInteger(count) || count < 0) {
      throw new Error(`/getCaseCount sent ${message.type} ${JSON.stringify(text.slice(0, 100))}, not a case count`);
    }
    return count;
  } finally {
    await ws.close(1000);
  }
}

/** Runs one case: echoes every message until the server closes; resolves with how the connection ended. */
async function runCase(base: string, n: number, agent: string): Promise<CloseInfo> {
  const ws = await connect(`${base}/runCase?case=${n}&agent=${encodeURIComponent(agent)}`, OPTIONS);
  const timer = setTimeout(() => ws.terminate(), CASE_TIMEOUT);
  try {
    for await (const message of ws) await ws.writeMessage(message.data, message.type);
  } catch {
    // A protocol violation, or the connection closed under a write: wsflow has already failed the
    // connection with the right code; how it ended is reported below.
  } finally {
    clearTimeout(timer);
  }
  // Already closing or closed by now: this only waits for the end of the closing handshake.
  return ws.close();
}

/** Asks the server to write its reports for `agent`, then closes cleanly. */
async function updateReports(base: string, agent: string): Promise<CloseInfo> {
  const ws = await connect(`${base}/updateReports?agent=${encodeURIComponent(agent)}`, OPTIONS);
  return ws.close(1000);
}

/** Runs every case the fuzzing server at `base` has; resolves with the number of cases that threw. */
export async function runAutobahnClient(
  base: string,
  agent: string,
  log: (line: string) => void = (line) => console.log(line),
): Promise<number> {
  const root = base.replace(/\/+$/, '');
  const count = await getCaseCount(root);
  log(`${count} cases on ${root} (agent ${agent})`);
  let failures = 0;
  for (let n = 1; n <= count; n++) {
    try {
      const info = await runCase(root, n, agent);
      log(`case ${n}/${count}: closed ${info.code}${info.reason ? ` ${info.reason}` : ''}${info.wasClean ? '' : ' (unclean)'}`);
    } catch (err) {
      failures++;
      log(`case ${n}/${count}: ${(err as Error).message}`);
    }
  }
  const info = await updateReports(root, agent);
  log(`reports updated (closed ${info.code})`);
  return failures;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const base = option(argv, 'url', 'ws://127.0.0.1:9001');
  const agent = option(argv, 'agent', 'wsflow');
  runAutobahnClient(base, agent).then(
    (failures) => {
      console.log(failures === 0 ? 'done' : `done (${failures} cases could not be run)`);
      process.exit(0);
    },
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
