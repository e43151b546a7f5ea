import { WebSocketServer, type WebSocket } from '../../src';

type Cleanup = () => Promise<void> | void;

/**
 * Starts a WebSocketServer on 127.0.0.1 (a free port) whose connections go to `handler`, and resolves
 * with its ws:// URL. The function that terminates its connections and closes it goes to `cleanups`.
 */
export async function serveOnLoopback(
  handler: (ws: WebSocket) => void,
  cleanups: Cleanup[],
  opts: ConstructorParameters<typeof WebSocketServer>[0] = {},
): Promise<string> {
  const open: WebSocket[] = [];
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...opts }, (ws) => {
    open.push(ws);
    handler(ws);
  });
  cleanups.push(async () => {
    for (const ws of open) ws.terminate();
    await wss.close();
  });
  const { port } = await wss.listen();
  return `ws://127.0.0.1:${port}/`;
}

/** Sends every message back as it came, until the connection ends. */
export async function echoMessages(ws: WebSocket): Promise<void> {
  try {
    for await (const m of ws) await ws.writeMessage(m.data, m.type);
  } catch {
    /* closed */
  }
}
