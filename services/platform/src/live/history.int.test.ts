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

  it('refuses a table prefix that is not a plain identifier', () => {
    expect(() => createLiveHistory('x; DROP TABLE users')).toThrow('bad table prefix');
    expect(() => liveHistoryMigrations('Bad')).toThrow('bad table prefix');
  });
});
