// Argument parsing shared by the commands: node's own util.parseArgs (strict), with usage errors as a type
// of their own so that `main` can answer every one of them the same way (a message and exit status 2).
import { parseArgs, type ParseArgsConfig } from 'util';

/** A mistake on the command line: printed with a pointer to `--help`, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Where a command writes: injectable so the commands can be driven in-process too. */
export interface Io {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` against `options`; unknown options and missing values are UsageErrors. */
export function parse<O extends Options>(
  argv: string[],
  options: O,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

/** An integer option within [min, max], or `fallback` when absent. */
export function intOption(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A number option within [min, max] (fractions allowed), or `fallback` when absent. */
export function numberOption(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** `host:port` (IPv6 in brackets: `[::1]:8080`; a bare port means localhost). */
export function parseAddr(addr: string): { host: string; port: number } {
  const colon = addr.lastIndexOf(':');
  const hostPart = colon >= 0 ? addr.slice(0, colon) : 'localhost';
  const portPart = colon >= 0 ? addr.slice(colon + 1) : addr;
  const port = Number(portPart);
  if (portPart === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--addr ${JSON.stringify(addr)}: expected host:port (port 0–65535)`);
  }
  const host = (hostPart === '' ? 'localhost' : hostPart).replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

/** A ws:, wss: (or http:, https:) URL without a fragment, checked before any connection is attempted. */
export function parseWsUrl(text: string | undefined, command: string): string {
  if (text === undefined) throw new UsageError(`${command}: missing <url> (e.g. ws://localhost:8080/echo)`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${command}: invalid URL ${JSON.stringify(text)}`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) {
    throw new UsageError(`${command}: unsupported scheme ${JSON.stringify(url.protocol)}: use ws: or wss:`);
  }
  if (text.includes('#')) throw new UsageError(`${command}: a WebSocket URL must not contain a fragment`);
  return text;
}

/** Resolves once `ms` have passed; the timer does not keep the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
