import { randomUUID } from 'node:crypto';
import { runMigrations } from '../db.js';
import { startTestRuntime, type TestRuntime } from '../test-support/index.js';
import { createLiveHistory, liveHistoryMigrations } from './history.js';

/** A second stream's history beside sync's: its own tables, one event fanned out to several keys. */
describe('live history of another stream', () => {
  let rt: TestRuntime;
  const history = createLiveHistory<{ id: string; n: number }>('tracker_probe');

  beforeAll(async () => {
    rt = await startTestRuntime([]);
    await runMigrations(rt.pool, 'tracker-probe', liveHistoryMigrations('tracker_probe'), rt.logger);
  });
  afterAll(async () => rt?.close());

  it('gives each key its own gap-free sequence, stores a redelivery once, and keeps a bounded window', async () => {
    const [alice, bob] = [randomUUID(), randomUUID()];
    const event = { id: randomUUID(), n: 1 };
    // One event to both parties: one inbox entry per (event, key).
    const items = [alice, bob].map((key) => ({ key, id: `${event.id}/${key}`, event }));
    const first = await history.storeEvents(rt.pool, items, 3);
    expect([...first.values()]).toEqual([
      { sequence: 1, created: true },
      { sequence: 1, created: true },
    ]);
    const again = await history.storeEvents(rt.pool, items, 3);
    expect([...again.values()].map((s) => s.created)).toEqual([false, false]);

    const store = history.createEventStore(() => rt.pool, 3);
    for (let n = 2; n <= 5; n++) {
      const e = { id: randomUUID(), n };
      await store({ key: alice, id: e.id, event: e });
    }
    const page = await history.read(rt.pool, alice, 0, 10);
    expect(page.latest).toBe(5);
    expect(page.events.map((e) => [e.sequence, e.event.n])).toEqual([
      [3, 3],
      [4, 4],
      [5, 5],
    ]);
    expect((await history.read(rt.pool, bob, 0, 10)).events.map((e) => e.event.id)).toEqual([event.id]);
  });

  it('stores several events of one key in one call in the order given, a redelivered one once', async () => {
    const [admins, carol] = [randomUUID(), randomUUID()];
    const events = Array.from({ length: 5 }, (_, n) => ({ id: randomUUID(), n }));
    const items = events.flatMap((event) => [
      { key: admins, id: `${event.id}/${admins}`, event },
      { key: carol, id: `${event.id}/${carol}`, event },
    ]);
    const stored = await history.storeEvents(rt.pool, items.slice(0, 4), 10);
    expect(items.slice(0, 4).map((i) => stored.get(i.id)?.sequence)).toEqual([1, 1, 2, 2]);
    // Two already stored, three new: the new ones follow on, in the order given.
    const rest = await history.storeEvents(rt.pool, items, 10);
    expect(items.map((i) => [rest.get(i.id)?.sequence, rest.get(i.id)?.created])).toEqual([
      [1, false],
      [1, false],
      [2, false],
      [2, false],
      [3, true],
      [3, true],
      [4, true],
      [4, true],
      [5, true],
      [5, true],
    ]);
    const page = await history.read(rt.pool, admins, 0, 10);
    expect(page.events.map((e) => [e.sequence, e.event.n])).toEqual(events.map((e, n) => [n + 1, e.n]));
    await expect(history.storeEvents(rt.pool, [items[0]!, items[0]!], 10)).rejects.toThrow('once per call');
  });

  it('stores concurrent events of a key every event goes to gap-free and in arrival order', async () => {
    const admins = randomUUID();
    const users = Array.from({ length: 8 }, () => randomUUID());
    const store = history.createEventStore(() => rt.pool, 1000, { maxBatch: 16, parallel: 4 });
    const events = Array.from({ length: 200 }, (_, n) => ({ id: randomUUID(), n }));
    const results = await Promise.all(
      events.flatMap((event) => [
        store({ key: admins, id: `${event.id}/${admins}`, event }),
        store({ key: users[event.n % users.length]!, id: `${event.id}/u`, event }),
      ]),
    );
    expect(results.every((r) => r?.created)).toBe(true);
    const page = await history.read(rt.pool, admins, 0, 1000);
    expect(page.latest).toBe(200);
    expect(page.events.map((e) => e.event.n)).toEqual(events.map((e) => e.n));
    for (const [u, user] of users.entries()) {
      const own = await history.read(rt.pool, user, 0, 1000);
      expect(own.events.map((e) => e.sequence)).toEqual(own.events.map((_, i) => i + 1));
      expect(own.events.map((e) => e.event.n)).toEqual(
        events.filter((e) => e.n % users.length === u).map((e) => e.n),
      );
    }
  });

  it('refuses a table prefix that is not a plain identifier', () => {
    expect(() => createLiveHistory('x; DROP TABLE users')).toThrow('bad table prefix');
    expect(() => liveHistoryMigrations('Bad')).toThrow('bad table prefix');
  });
});
