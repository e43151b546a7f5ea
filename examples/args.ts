import { parseAddr as parseHostPort } from '../src/cli/args';

/** Reads `--addr host:port` from the command line (default localhost:8080), parsed as the CLI does. */
export function parseAddr(argv: string[], fallback = 'localhost:8080'): { host: string; port: number; addr: string } {
  const i = argv.indexOf('--addr');
  const addr = i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
  return { ...parseHostPort(addr), addr };
}
