#!/usr/bin/env node
// `wsflow`: the command line. This file only parses the command and dispatches; each command lives in its
// own file. Exit status: 0 success (a clean close), 1 failure (connection refused, handshake refused, a
// connection that ended abnormally), 2 usage error.
import * as fs from 'fs';
import * as path from 'path';
import { UsageError, type Io } from './args';

const USAGE = `Usage: wsflow <command> [options]

Commands:
  serve [--addr host:port] [--echo] [--dir public/]
        an echo server at /echo, with a page to try it at / (or static files from --dir)
  connect <url> [--protocol p] [--header k:v] [--compression] [--wait ms]
        an interactive client: type lines to send them; /help lists the commands
  bench <url> [--conns N] [--size B] [--duration s]
        load-test any WebSocket echo server: msgs/s, MB/s, round-trip percentiles

Options:
  -h, --help      help (also: wsflow <command> --help)
  -v, --version   the version

Exit status: 0 success, 1 connection failure, 2 usage error.
`;

type Command = (argv: string[], io: Io) => Promise<number>;

// Loaded on demand: `wsflow --version` should not pay for the whole library.
const COMMANDS: Record<string, () => Command> = {
  serve: () => (require('./serve') as typeof import('./serve')).serveCommand,
  connect: () => (require('./connect') as typeof import('./connect')).connectCommand,
  bench: () => (require('./bench') as typeof import('./bench')).benchCommand,
};

/** The version in wsflow's package.json (found from the source tree and from dist/ alike). */
export function version(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'wsflow' && typeof pkg.version === 'string') return pkg.version;
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

/** Runs the command line `argv` (without node and the script) and resolves with the exit status. */
export async function main(argv: string[], io: Io = process): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
      if (first === 'help' && rest[0] !== undefined && rest[0] in COMMANDS) return await main([rest[0], '--help'], io);
      (first === undefined ? io.stderr : io.stdout).write(USAGE);
      return first === undefined ? 2 : 0;
    }
    if (first === '-v' || first === '--version') {
      io.stdout.write(`wsflow ${version()}\n`);
      return 0;
    }
    const load = Object.prototype.hasOwnProperty.call(COMMANDS, first) ? COMMANDS[first] : undefined;
    if (load === undefined) throw new UsageError(`unknown command ${JSON.stringify(first)}`);
    return await load()(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      const cmd = first !== undefined && first in COMMANDS ? ` ${first}` : '';
      io.stderr.write(`wsflow: ${err.message}\nRun 'wsflow${cmd} --help' for usage.\n`);
      return 2;
    }
    io.stderr.write(`wsflow: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      // Let stdout drain (it may be a pipe) before leaving.
      process.exitCode = code;
      process.stdout.write('', () => process.exit(code));
    },
    (err: unknown) => {
      process.stderr.write(`wsflow: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
