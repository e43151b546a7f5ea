// Three real Node processes, each with its own server, Hub and RedisBroker (the chat example's server),
// sharing one redis-server: clients spread over them all get every message of their room exactly once,
// whichever process it was published on; bytes published straight into the channel are refused and
// counted by every hub, and reach nobody.
import { fork, type ChildProcess } from 'child_process';
import * as path from 'path';
import { connect, type HubStats, type WebSocket } from '../../src';
import { describePeer } from '../interop/helpers';
import { hasRedisServer, RedisServer, stopAllRedisServers } from '../helpers/redis-server';

jest.setTimeout(90_000);
const WAIT = 30_000;
const NODES = 3;
const CLIENTS_PER_NODE = 2;

interface ChatMessage {
  type: string;
  name?: string;
  text?: string;
  worker: string;
}

class Node {
  readonly child: ChildProcess;
  readonly port: Promise<number>;
  private waiting: Array<(stats: HubStats) => void> = [];
  readonly logs: string[] = [];

  constructor(
    readonly id: string,
    redisUrl: string,
  ) {
    this.child = fork(path.join(__dirname, 'fixtures/chat-node.ts'), [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, REDIS_URL: redisUrl, NODE_ID: id },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.port = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`node ${id} exited (${code}) before listening`)));
      this.child.on('message', (m: { port?: number; stats?: HubStats; log?: string }) => {
        if (m.port !== undefined) resolve(m.port);
        if (m.log !== undefined) this.logs.push(m.log);
        if (m.stats !== undefined) for (const w of this.waiting.splice(0)) w(m.stats);
      });
    });
  }

  stats(): Promise<HubStats> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.send('stats');
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    if (this.child.connected) this.child.send('close');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** A chat client: every message it receives, and a way to wait for some. */
class Client {
  readonly received: ChatMessage[] = [];
  private wake: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    void (async () => {
      try {
        for await (const m of ws) {
          this.received.push(JSON.parse(m.data.toString('utf8')) as ChatMessage);
          for (const w of this.wake.splice(0)) w();
        }
      } catch {
        /* closed */
      }
    })();
  }

  texts(): string[] {
    return this.received.filter((m) => m.type === 'message').map((m) => m.text as string);
  }

  until(condition: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(this.texts())}`)), WAIT);
      const check = (): void => {
        if (condition()) {
          clearTimeout(timer);
          resolve();
        } else this.wake.push(check);
      };
      check();
    });
  }
}

describePeer('three processes, one Redis', hasRedisServer(), () => {
  let server: RedisServer;
  const nodes: Node[] = [];
  const clients: Client[] = [];

  beforeAll(async () => {
    server = await RedisServer.start();
    for (let i = 0; i < NODES; i++) nodes.push(new Node(`n${i}`, server.url));
    await Promise.all(nodes.map((n) => n.port));
    // Each process compiles the sources with ts-node first: slow on a loaded machine.
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await Promise.all(nodes.map((n) => n.stop()));
    await stopAllRedisServers();
  }, 60_000);

  test('a publish on any process reaches every client of the room exactly once', async () => {
    for (const node of nodes) {
      const port = await node.port;
      for (let k = 0; k < CLIENTS_PER_NODE; k++) {
        const client = new Client(await connect(`ws://127.0.0.1:${port}/chat?room=mp&name=${node.id}-${k}`));
        clients.push(client);
        await client.until(() => client.received.some((m) => m.type === 'welcome' && m.worker === node.id), 'welcome');
      }
    }
    // Every process has subscribed the room's channel before anything is published.
    const deadline = Date.now() + WAIT;
    while (!(await server.command('PUBSUB', 'SHARDNUMSUB', 'wsflow:room:mp')).includes(`:${NODES}\r\n`)) {
      if (Date.now() > deadline) throw new Error('the three processes did not all subscribe');
      await new Promise((r) => setTimeout(r, 25));
    }

    const expected: string[] = [];
    for (let i = 0; i < NODES; i++) {
      const text = `from ${nodes[i]?.id}`;
      expected.push(text);
      await clients[i * CLIENTS_PER_NODE]?.ws.writeMessage(JSON.stringify({ text }));
    }
    for (const c of clients) await c.until(() => expected.every((t) => c.texts().includes(t)), 'the three messages');
    // A last message behind them: any duplicate of the first three would have arrived before it.
    await clients[CLIENTS_PER_NODE]?.ws.writeMessage(JSON.stringify({ text: 'last' }));
    for (const c of clients) await c.until(() => c.texts().includes('last'), 'the last message');
    for (const c of clients) expect([...c.texts()].sort()).toEqual([...expected, 'last'].sort());
    // Messages from another process are marked with the worker that published them.
    const fromOthers = clients[0]?.received.filter((m) => m.type === 'message' && m.worker !== 'n0').map((m) => m.worker);
    expect(fromOthers?.sort()).toEqual(['n1', 'n1', 'n2']);

    for (const node of nodes) {
      const stats = await node.stats();
      expect(stats.notForwarded).toBe(0);
      expect(stats.rejected).toEqual({ foreign: 0, version: 0, malformed: 0 });
      expect(stats.received).toBeGreaterThan(0);
    }
  });

  test('bytes published straight into the channel are refused and counted by every process, and reach nobody', async () => {
    const before = clients.map((c) => c.received.length);
    await server.command('SPUBLISH', 'wsflow:room:mp', 'not an envelope');
    await server.command('SPUBLISH', 'wsflow:room:mp', Buffer.from([0x77, 0x46, 9, 0]));
    await server.command('SPUBLISH', 'wsflow:room:mp', Buffer.from([0x77, 0x46, 1, 0, 1, 2]));
    const deadline = Date.now() + WAIT;
    for (const node of nodes) {
      for (;;) {
        const { rejected } = await node.stats();
        if (rejected.foreign === 1 && rejected.version === 1 && rejected.malformed === 1) break;
        if (Date.now() > deadline) throw new Error(`node ${node.id} counted ${JSON.stringify(rejected)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    // Still working, and nothing of the above was delivered.
    await clients[0]?.ws.writeMessage(JSON.stringify({ text: 'still here' }));
    for (const c of clients) await c.until(() => c.texts().includes('still here'), 'still here');
    clients.forEach((c, i) => expect(c.received.slice(before[i]).map((m) => m.text)).toEqual(['still here']));
  });
});
