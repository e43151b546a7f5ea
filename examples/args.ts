/** Reads `--addr host:port` from the command line (default localhost:8080). */
export function parseAddr(argv: string[], fallback = 'localhost:8080'): { host: string; port: number; addr: string } {
  const i = argv.indexOf('--addr');
  const addr = i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
  const colon = addr.lastIndexOf(':');
  const host = (colon > 0 ? addr.slice(0, colon) : 'localhost').replace(/^\[(.*)\]$/, '$1');
  const port = Number(colon >= 0 ? addr.slice(colon + 1) : addr);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--addr ${addr}: expected host:port`);
  return { host, port, addr };
}
