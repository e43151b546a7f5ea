// The framework integrations of docs/integrations.md, run: each example server starts on port 0, answers
// plain HTTP through its framework, and echoes over WebSocket at /ws with `connect()`; then closes cleanly.
import * as http from 'http';
import { connect } from '../../src';
import * as express from '../../examples/integrations/express';
import * as fastify from '../../examples/integrations/fastify';
import * as plain from '../../examples/integrations/http';
import * as koa from '../../examples/integrations/koa';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

describe.each([
  ['http', plain.start, 'hello over HTTP'],
  ['Express', express.start, 'hello from Express'],
  ['Fastify', fastify.start, 'hello from Fastify'],
  ['Koa', koa.start, 'hello from Koa'],
])('%s integration', (_name, start, greeting) => {
  test('serves HTTP and echoes WebSocket messages on the same port', async () => {
    const app = await start(0);
    try {
      expect(await get(app.port, '/')).toEqual({ status: 200, body: `${greeting}\n` });
      const ws = await connect(`ws://127.0.0.1:${app.port}/ws`);
      await ws.writeMessage('hello');
      const text = await ws.readMessage();
      expect(text.type).toBe('text');
      expect(text.data.toString()).toBe('hello');
      await ws.writeMessage(Buffer.from([1, 2, 3]));
      const binary = await ws.readMessage();
      expect(binary).toEqual({ type: 'binary', data: Buffer.from([1, 2, 3]) });
      expect(await ws.close(1000, 'done')).toEqual({ code: 1000, reason: '', wasClean: true });
      // Upgrades to other paths are refused by the WebSocketServer (404), not swallowed by the framework.
      await expect(connect(`ws://127.0.0.1:${app.port}/elsewhere`)).rejects.toMatchObject({ status: 404 });
    } finally {
      await app.close();
    }
  });

  test('close() tells connected clients the server is going away (1001)', async () => {
    const app = await start(0);
    const ws = await connect(`ws://127.0.0.1:${app.port}/ws`);
    const closed = new Promise((resolve) => ws.once('close', resolve));
    await app.close();
    expect(await closed).toEqual({ code: 1001, reason: 'Server shutting down', wasClean: true });
  });
});
