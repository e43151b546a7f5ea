// The coordinator's side channel to a Node echo server of the end-to-end benchmark (bench/run.ts):
// "READY <port>" on stdout once listening; then commands on stdin, one per line:
//   mem   two full GCs (the server runs with --expose-gc), then "MEM {json}" with process.memoryUsage()
//   quit  exits
// plus any command a server adds (the fan-out servers' `sub N`), answered with the line it returns.
// End of stdin (the coordinator is gone) exits too.
import * as readline from 'readline';

declare const gc: (() => void) | undefined;

/** Parses `--name value` / `--flag` arguments. */
export function parseArgs(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out.set(arg.slice(2), next);
      i++;
    } else out.set(arg.slice(2), 'true');
  }
  return out;
}

export const MAX_PAYLOAD = 2 * 1024 * 1024;

/** A server's own command: called with the rest of the line, returns the line to print. */
export type ControlCommand = (arg: string) => string;

export function serveControl(port: number, info: Record<string, unknown> = {}, commands: Record<string, ControlCommand> = {}): void {
  process.stdout.write(`READY ${port} ${JSON.stringify(info)}\n`);
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [name, ...rest] = line.trim().split(/\s+/);
    const own = Object.prototype.hasOwnProperty.call(commands, name) ? commands[name] : undefined;
    if (own !== undefined) {
      process.stdout.write(`${own(rest.join(' '))}\n`);
      return;
    }
    switch (line.trim()) {
      case 'mem': {
        if (typeof gc !== 'function') {
          process.stdout.write('MEM {"error":"run with --expose-gc"}\n');
          return;
        }
        gc();
        gc();
        process.stdout.write(`MEM ${JSON.stringify(process.memoryUsage())}\n`);
        return;
      }
      case 'quit':
        process.exit(0);
    }
  });
  rl.on('close', () => process.exit(0));
}
