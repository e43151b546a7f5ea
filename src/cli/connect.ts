// `wsflow connect`: a client for poking at a server, like wscat. On a terminal it is a prompt (readline,
// with history); otherwise every line of stdin is sent as a text message, which makes it a pipe stage:
//   printf 'a\nb\n' | wsflow connect ws://localhost:8080/echo
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import { connect, HandshakeError, isValidCloseCode, type CloseInfo, type Message, type WebSocket } from '../index';
import { intOption, parse, parseWsUrl, UsageError, type Io } from './args';

const HELP = `Usage: wsflow connect <url> [options]

Connects to a WebSocket server. On a terminal: type a line to send it as a text message; what arrives is
printed (text as is, binary as hex). Piped: each line of stdin is sent, and at its end the client waits
for replies (--wait), then closes with 1000.

Options:
  --protocol p       offer subprotocol p (repeatable)
  --header k:v       add a request header (repeatable), e.g. --header "Authorization: Bearer x"
  --origin url       send an Origin header, as a browser would
  --compression      offer permessage-deflate
  --wait ms          piped mode: after the input ends, close once no message has arrived for ms (default 1000)
  -h, --help         this help

Commands at the prompt:
  /ping [data]             send a Ping (the Pong is printed)
  /close [code] [reason]   close (default 1000) and exit
  /help                    list the commands
  //text                   send a line that starts with '/'

History is kept in ~/.wsflow_history (WSFLOW_HISTORY_FILE to move it, empty to disable).
Exit status: 0 after a clean close, 1 when the connection failed or ended abnormally, 2 on usage errors.
`;

const PROMPT_HELP = `/ping [data]             send a Ping
/close [code] [reason]   close the connection (default 1000) and exit
/help                    this list
//text                   send a line starting with '/'
anything else            sent as a text message
`;

/** How a received message is shown: text as is, binary as hex. */
export function formatMessage(message: Message): string {
  return message.type === 'text' ? message.data.toString('utf8') : message.data.toString('hex');
}

/** `Name: value` or `name:value` → [name, value]; a UsageError otherwise. */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon > 0 ? text.slice(0, colon).trim() : '';
  if (name === '' || /\s/.test(name)) throw new UsageError(`--header ${JSON.stringify(text)}: expected name:value`);
  return [name, text.slice(colon + 1).trim()];
}

function historyFile(): string | null {
  const configured = process.env.WSFLOW_HISTORY_FILE;
  if (configured !== undefined) return configured === '' ? null : configured;
  return path.join(os.homedir(), '.wsflow_history');
}

function loadHistory(file: string | null): string[] {
  if (file === null) return [];
  try {
    // readline wants the most recent entry first.
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').reverse().slice(0, 500);
  } catch {
    return [];
  }
}

function saveHistory(file: string | null, history: string[]): void {
  if (file === null) return;
  try {
    fs.writeFileSync(file, [...history].reverse().join('\n') + '\n', { mode: 0o600 });
  } catch {
    /* history is a convenience: never fail the session over it */
  }
}

export async function connectCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    protocol: { type: 'string', multiple: true },
    header: { type: 'string', multiple: true },
    origin: { type: 'string' },
    compression: { type: 'boolean' },
    wait: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`connect: unexpected argument ${JSON.stringify(positionals[1])}`);
  const url = parseWsUrl(positionals[0], 'connect');
  const headers: Record<string, string> = {};
  for (const h of (values.header as string[] | undefined) ?? []) {
    const [name, value] = parseHeader(h);
    headers[name] = value;
  }
  const wait = intOption(values.wait, 'wait', 1000, 0, 3_600_000);
  let ws: WebSocket;
  try {
    ws = await connect(url, {
      protocols: (values.protocol as string[] | undefined) ?? [],
      headers,
      origin: typeof values.origin === 'string' ? values.origin : undefined,
      compression: values.compression === true,
    });
  } catch (err) {
    // Bad options (an invalid header or subprotocol) are the user's to fix: usage errors.
    if (err instanceof TypeError || err instanceof SyntaxError) throw new UsageError(`connect: ${err.message}`);
    if (err instanceof HandshakeError) {
      io.stderr.write(`error: handshake failed${err.status !== 0 ? ` (HTTP ${err.status})` : ''}: ${err.message}\n`);
    } else {
      io.stderr.write(`error: cannot connect to ${url}: ${(err as Error).message}\n`);
    }
    return 1;
  }
  return io.stdin.isTTY === true ? interactive(ws, url, io) : piped(ws, wait, io);
}

/** Exit status for how the connection ended. */
function statusOf(info: CloseInfo): number {
  return info.wasClean ? 0 : 1;
}

function describeClose(info: CloseInfo): string {
  return `${info.code}${info.reason ? ` ${info.reason}` : ''}${info.wasClean ? '' : ' (not clean)'}`;
}

/** Piped mode: stdin lines out, messages to stdout, status lines to stderr. */
async function piped(ws: WebSocket, wait: number, io: Io): Promise<number> {
  let lastMessage = Date.now();
  const reading = (async () => {
    try {
      for await (const message of ws) {
        lastMessage = Date.now();
        io.stdout.write(formatMessage(message) + '\n');
      }
    } catch (err) {
      io.stderr.write(`error: ${(err as Error).message}\n`);
    }
  })();
  const lines = readline.createInterface({ input: io.stdin, terminal: false, crlfDelay: Infinity });
  const closed = new Promise<CloseInfo>((resolve) => ws.once('close', resolve));
  let closedByPeer = false;
  void closed.then(() => {
    // The server ended it: stop reading stdin, which may never end on its own.
    closedByPeer = true;
    lines.close();
  });

  const onSigint = (): void => void ws.close(1000).catch(() => ws.terminate());
  process.once('SIGINT', onSigint);
  try {
    for await (const line of lines) {
      if (closedByPeer) break;
      await ws.writeMessage(line).catch(() => undefined);
      lastMessage = Date.now();
    }
  } finally {
    lines.close();
  }
  // The input ended: give replies still on their way until the connection has been quiet for `wait` ms.
  while (!closedByPeer && wait > 0) {
    const quietFor = Date.now() - lastMessage;
    if (quietFor >= wait) break;
    await Promise.race([closed, new Promise((r) => setTimeout(r, wait - quietFor))]);
  }
  if (!closedByPeer) await ws.close(1000).catch(() => undefined);
  const info = await closed;
  await reading;
  process.removeListener('SIGINT', onSigint);
  if (info.code !== 1000 || !info.wasClean) io.stderr.write(`closed: ${describeClose(info)}\n`);
  return statusOf(info);
}

/** Terminal mode: a readline prompt; incoming messages are printed above it. */
async function interactive(ws: WebSocket, url: string, io: Io): Promise<number> {
  const file = historyFile();
  const rl = readline.createInterface({
    input: io.stdin,
    output: io.stdout,
    terminal: true,
    prompt: '> ',
    history: loadHistory(file),
    historySize: 500,
    removeHistoryDuplicates: true,
  });
  let history: string[] = [];
  rl.on('history', (h: string[]) => (history = h));

  // Prints a line without mangling what the user is typing: clear the prompt, print, redraw it.
  let open = true;
  const print = (line: string): void => {
    readline.clearLine(io.stdout, 0);
    readline.cursorTo(io.stdout, 0);
    io.stdout.write(line + '\n');
    if (open) rl.prompt(true);
  };

  print(`connected to ${url}${ws.protocol ? ` (protocol ${ws.protocol})` : ''}${ws.extensions ? ` (${ws.extensions})` : ''}; /help for commands`);
  ws.on('pong', (data: Buffer) => print(`< pong${data.length ? `: ${data.toString('utf8')}` : ''}`));
  ws.on('ping', (data: Buffer) => print(`< ping${data.length ? `: ${data.toString('utf8')}` : ''}`));
  const closed = new Promise<CloseInfo>((resolve) => ws.once('close', resolve));

  void (async () => {
    try {
      for await (const message of ws) print(`< ${message.type === 'binary' ? `(binary, ${message.data.length} bytes) ` : ''}${formatMessage(message)}`);
    } catch (err) {
      print(`error: ${(err as Error).message}`);
    }
  })();

  const closeWith = (code: number, reason: string): void => {
    void ws.close(code, reason).catch((err: Error) => print(`error: ${err.message}`));
  };
  rl.on('line', (line: string) => {
    if (line.startsWith('/') && !line.startsWith('//')) {
      const [command = '', ...args] = line.slice(1).split(' ');
      switch (command) {
        case 'ping': {
          const data = args.join(' ');
          ws.ping(data).catch((err: Error) => print(`error: ${err.message}`));
          break;
        }
        case 'close': {
          const code = args[0] === undefined || args[0] === '' ? 1000 : Number(args[0]);
          if (!Number.isInteger(code) || !isValidCloseCode(code)) {
            print(`error: close code ${args[0]} may not be sent (1000–1003, 1007–1014 or 3000–4999)`);
            break;
          }
          closeWith(code, args.slice(1).join(' '));
          break;
        }
        case 'help':
          print(PROMPT_HELP.trimEnd());
          break;
        default:
          print(`unknown command /${command}: /help lists the commands`);
      }
    } else if (line !== '') {
      ws.writeMessage(line.startsWith('//') ? line.slice(1) : line).catch((err: Error) => print(`error: ${err.message}`));
    }
    if (open) rl.prompt();
  });
  // Ctrl-C and Ctrl-D: close normally.
  rl.on('SIGINT', () => closeWith(1000, ''));
  rl.on('close', () => {
    if (open) closeWith(1000, '');
  });
  rl.prompt();

  const info = await closed;
  print(`closed: ${describeClose(info)}`);
  open = false;
  saveHistory(file, history);
  rl.close();
  return statusOf(info);
}
