// The chat example: `npm run example:chat` (one process, in-process hub), or
// `npm run example:chat -- --workers 2 --redis redis://127.0.0.1:6379` (node:cluster workers sharing one
// port, rooms spanning them through Redis). `--addr host:port` as for the echo server (default localhost:8080).
import cluster from 'cluster';
import { parseAddr } from '../args';
import { startChat } from './server';

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function usage(message: string): never {
  console.error(`${message}\nusage: example:chat [--addr host:port] [--workers N --redis redis://host:port]`);
  process.exit(2);
}

const argv = process.argv.slice(2);
const { host, port } = parseAddr(argv);
const redis = option(argv, '--redis');
const workersText = option(argv, '--workers') ?? '1';
const workers = Number(workersText);
if (!Number.isInteger(workers) || workers < 1 || workers > 64) usage(`--workers must be 1 to 64, not ${workersText}`);
if (workers > 1 && redis === undefined) usage('--workers above 1 needs --redis: without a broker, a room cannot span processes');

function shownUrl(actualPort: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}/`;
}

if (cluster.isPrimary && workers > 1) {
  // The primary only supervises; each worker runs a server on the shared port.
  const listening = new Set<number>();
  let announced = false;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('message', (worker, message: { listening?: number }) => {
    if (typeof message?.listening !== 'number') return;
    listening.add(worker.id);
    if (listening.size === workers && !announced) {
      announced = true;
      console.log(`wsflow chat on ${shownUrl(message.listening)} (${workers} workers, Redis ${redis})`);
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) console.log(`worker ${worker.id} exited (${signal ?? code})`);
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    // Workers close their connections with 1001 and exit; then the primary has nothing left and exits.
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} else {
  const worker = cluster.isWorker ? String(cluster.worker?.id) : String(process.pid);
  startChat({ host, port, worker, ...(redis === undefined ? {} : { redis }) }).then(
    (chat) => {
      if (cluster.isWorker) process.send?.({ listening: chat.port });
      else console.log(`wsflow chat on ${shownUrl(chat.port)} (one process${redis === undefined ? '' : `, Redis ${redis}`})`);
      let stopping = false;
      const stop = (): void => {
        if (stopping) process.exit(1);
        stopping = true;
        void chat.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (err: Error) => {
      console.error(`chat worker ${worker} could not start: ${err.message}`);
      process.exit(1);
    },
  );
}
