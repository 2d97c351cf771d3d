import { createGroupCommit } from './group-commit.js';

/** A write that records its batches and answers when told to. */
function recorder<I>(answer: (item: I) => unknown = (item) => item) {
  const batches: I[][] = [];
  const gates: (() => void)[] = [];
  let held = false;
  return {
    batches,
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const open of gates.splice(0)) open();
    },
    async write(items: I[]) {
      batches.push(items);
      if (held) await new Promise<void>((resolve) => gates.push(resolve));
      return items.map(answer);
    },
  };
}

test('callers started together share one batch, each gets its own result', async () => {
  const rec = recorder<number>((n) => n * 10);
  const commit = createGroupCommit({ write: rec.write });
  await expect(Promise.all([1, 2, 3].map(commit))).resolves.toEqual([10, 20, 30]);
  expect(rec.batches).toEqual([[1, 2, 3]]);
});

test('batches are at most maxBatch, at most `parallel` at once; later arrivals form the next', async () => {
  const rec = recorder<number>();
  rec.hold();
  const commit = createGroupCommit({ write: rec.write, maxBatch: 2, parallel: 2 });
  const first = [1, 2, 3, 4, 5].map(commit);
  await new Promise((r) => setImmediate(r));
  expect(rec.batches).toEqual([
    [1, 2],
    [3, 4],
  ]);
  const later = [6, 7].map(commit);
  rec.release();
  await Promise.all(first);
  rec.release();
  await Promise.all(later);
  expect(rec.batches.flat().sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  expect(rec.batches.every((b) => b.length <= 2)).toBe(true);
});

test('a key in flight waits; its items are written in arrival order, together unless onePerKey', async () => {
  for (const onePerKey of [false, true]) {
    const rec = recorder<{ key: string; n: number }>();
    rec.hold();
    const commit = createGroupCommit({ write: rec.write, keyOf: (i) => i.key, onePerKey, parallel: 4 });
    const a1 = commit({ key: 'a', n: 1 });
    await new Promise((r) => setImmediate(r));
    // a1 is in flight: a2 and a3 wait behind it; b goes ahead.
    const rest = [commit({ key: 'a', n: 2 }), commit({ key: 'b', n: 1 }), commit({ key: 'a', n: 3 })];
    await new Promise((r) => setImmediate(r));
    expect(rec.batches.map((b) => b.map((i) => `${i.key}${i.n}`))).toEqual([['a1'], ['b1']]);
    for (let i = 0; i < 4; i++) {
      rec.release();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all([a1, ...rest]);
    const order = rec.batches.map((b) => b.map((i) => `${i.key}${i.n}`));
    expect(order.slice(2)).toEqual(onePerKey ? [['a2'], ['a3']] : [['a2', 'a3']]);
  }
});

test('with waitForKeyInFlight false a key in flight does not hold its next item back', async () => {
  const rec = recorder<{ key: string; n: number }>();
  rec.hold();
  const commit = createGroupCommit({
    write: rec.write,
    keyOf: (i) => i.key,
    onePerKey: true,
    waitForKeyInFlight: false,
    parallel: 4,
  });
  const all = [1, 2, 3].map((n) => commit({ key: 'a', n }));
  await new Promise((r) => setImmediate(r));
  // One per batch, all three in flight at once.
  expect(rec.batches.map((b) => b.map((i) => i.n))).toEqual([[1], [2], [3]]);
  rec.release();
  await Promise.all(all);
});

test('a failed batch is written again item by item: only the bad item fails', async () => {
  const batches: number[][] = [];
  const commit = createGroupCommit<number, number>({
    async write(items) {
      batches.push(items);
      if (items.includes(2)) throw new Error('bad item 2');
      return items;
    },
  });
  const results = await Promise.allSettled([1, 2, 3].map(commit));
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect((results[1] as PromiseRejectedResult).reason.message).toBe('bad item 2');
  expect(batches).toEqual([[1, 2, 3], [1], [2], [3]]);
});

test('without retryAlone a failed batch fails every item of it', async () => {
  const commit = createGroupCommit<number, number>({
    retryAlone: false,
    async write() {
      throw new Error('down');
    },
  });
  const results = await Promise.allSettled([1, 2].map(commit));
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
});
