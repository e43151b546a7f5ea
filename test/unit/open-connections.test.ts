import type { WebSocket } from '../../src/connection/websocket';
import { OpenConnections } from '../../src/open-connections';

// Only the two link fields are touched by the list: plain objects stand in for connections.
function fakes(n: number): WebSocket[] {
  return Array.from({ length: n }, (_, i) => ({ id: i, listPrev: null, listNext: null }) as unknown as WebSocket);
}

describe('OpenConnections', () => {
  test('keeps connections oldest first and unlinks from the head, the middle and the tail', () => {
    const list = new OpenConnections();
    const [a, b, c, d] = fakes(4);
    for (const ws of [a, b, c, d]) list.add(ws);
    expect(list.size).toBe(4);
    expect(list.toArray()).toEqual([a, b, c, d]);
    expect(list.delete(b)).toBe(true);
    expect(list.toArray()).toEqual([a, c, d]);
    expect(list.delete(a)).toBe(true);
    expect(list.toArray()).toEqual([c, d]);
    expect(list.delete(d)).toBe(true);
    expect(list.toArray()).toEqual([c]);
    expect(list.delete(c)).toBe(true);
    expect(list.toArray()).toEqual([]);
    expect(list.size).toBe(0);
    list.add(b);
    expect(list.toArray()).toEqual([b]);
  });

  test('a removed connection keeps no link to the others (nothing stays reachable through it)', () => {
    const list = new OpenConnections();
    const all = fakes(3);
    for (const ws of all) list.add(ws);
    for (const ws of all) {
      list.delete(ws);
      expect(ws.listPrev).toBeNull();
      expect(ws.listNext).toBeNull();
    }
  });

  test('adding twice and deleting what is not listed change nothing', () => {
    const list = new OpenConnections();
    const [a, b, stranger] = fakes(3);
    list.add(a);
    list.add(b);
    list.add(a);
    list.add(b);
    expect(list.size).toBe(2);
    expect(list.delete(stranger)).toBe(false);
    expect(list.delete(a)).toBe(true);
    expect(list.delete(a)).toBe(false);
    expect(list.toArray()).toEqual([b]);
    expect(list.size).toBe(1);
  });

  test('asSet() is one live Set, kept in step after it is first requested', () => {
    const list = new OpenConnections();
    const [a, b, c] = fakes(3);
    list.add(a);
    list.add(b);
    const set = list.asSet();
    expect([...set]).toEqual([a, b]);
    expect(list.asSet()).toBe(set);
    list.add(c);
    list.delete(a);
    expect([...set]).toEqual([b, c]);
    expect(set.has(a)).toBe(false);
    expect(set.size).toBe(list.size);
  });

  test('random adds and deletes agree with a Set', () => {
    const list = new OpenConnections();
    const model = new Set<WebSocket>();
    const pool = fakes(20);
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) % pool.length;
    for (let i = 0; i < 5000; i++) {
      const ws = pool[next()];
      if (next() % 2 === 0) {
        list.add(ws);
        model.add(ws);
      } else {
        expect(list.delete(ws)).toBe(model.delete(ws));
      }
      expect(list.size).toBe(model.size);
    }
    expect(list.toArray()).toEqual([...model]);
  });
});
