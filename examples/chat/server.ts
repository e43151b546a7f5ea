// One chat worker: an HTTP server with the page at `/` and the WebSocket at `/chat?room=…&name=…`, and a
// Hub whose topics are the rooms. With a Redis URL, the hub gets a RedisBroker, so a message reaches the
// room's members on every worker and host sharing that Redis; without, the room is this process only.
import * as http from 'http';
import type { AddressInfo } from 'net';
import { createClient } from 'redis';
import { Hub, WebSocketServer, type WebSocket } from '../../src';
import { RedisBroker } from '../../src/brokers/redis';
import { servePage } from '../page';
import { chatPage } from './page';

export interface ChatOptions {
  host: string;
  /** 0 for a free port (under node:cluster, one port shared by all workers). */
  port: number;
  /** A Redis URL (redis:// or rediss://, with user:password@ for an ACL user): rooms span processes. */
  redis?: string;
  /** Shown to the users, so they can see who is served by which worker. */
  worker: string;
  log?: (line: string) => void;
}

export interface ChatServer {
  port: number;
  hub: Hub;
  /** Closes the connections (1001), the hub (and its broker), the Redis client and the HTTP server. */
  close(): Promise<void>;
}

const ROOM = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_TEXT = 1000;

export async function startChat(options: ChatOptions): Promise<ChatServer> {
  const { worker } = options;
  const log = options.log ?? ((line: string) => console.log(`[worker ${worker}] ${line}`));
  let redis: ReturnType<typeof createClient> | undefined;
  let broker: RedisBroker | undefined;
  if (options.redis !== undefined) {
    redis = createClient({ url: options.redis });
    // The client reconnects by itself; the broker reports the outage through the hub (below).
    redis.on('error', () => undefined);
    await redis.connect();
    broker = new RedisBroker({ client: redis });
  }
  const hub = new Hub(broker === undefined ? {} : { broker });
  hub.on('broker-down', (err) => log(`Redis unavailable (${err.message}): rooms are local to this worker until it is back`));
  hub.on('broker-up', () => log('Redis is back: rooms span every worker again'));
  hub.on('error', (err) => log(`hub: ${err.message}`));

  const page = chatPage('/chat');
  const server = http.createServer(servePage(page));

  let closing = false;
  const publish = (topic: string, message: object): void => {
    if (!closing) hub.publish(topic, JSON.stringify({ ...message, worker }));
  };

  const onConnection = async (ws: WebSocket, req: http.IncomingMessage): Promise<void> => {
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const room = query.get('room') ?? '';
    const name = (query.get('name') ?? '').trim().slice(0, 32) || 'guest';
    if (!ROOM.test(room)) {
      await ws.close(1008, 'A room name is 1-64 letters, digits, _ or -');
      return;
    }
    const topic = `room:${room}`;
    hub.subscribe(ws, topic);
    await ws.writeMessage(JSON.stringify({ type: 'welcome', room, worker }));
    publish(topic, { type: 'join', name });
    ws.on('close', () => publish(topic, { type: 'leave', name }));
    for await (const message of ws) {
      if (message.type !== 'text') continue;
      let text: unknown;
      try {
        text = (JSON.parse(message.data.toString('utf8')) as { text?: unknown }).text;
      } catch {
        continue;
      }
      if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TEXT) continue;
      publish(topic, { type: 'message', name, text });
    }
  };

  const wss = new WebSocketServer({ server, path: '/chat', hub, upgrader: { maxPayload: 16 * 1024 } }, (ws, req) => {
    onConnection(ws, req).catch(() => undefined);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    port,
    hub,
    async close() {
      closing = true;
      await wss.close();
      await hub.close();
      if (redis?.isOpen) redis.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
