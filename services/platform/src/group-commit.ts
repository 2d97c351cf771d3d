/**
 * Group commit: concurrent callers' items written together, one statement and one commit for
 * many instead of one each. At 64 concurrent requests or handlers that is the difference between
 * a round trip and a WAL flush per item and one per batch (ADR 0027).
 *
 * The first batch waits one turn of the event loop, so that callers started together share it; up
 * to `parallel` batches run at once, and what arrives meanwhile forms the next ones. Items with
 * the same key are written in the order they arrived: a key with an item in a batch still running
 * waits for it (unless `waitForKeyInFlight` is false), and with `onePerKey` two items of one key
 * never share a batch either (for a statement that takes one row per key, e.g. one sequence per
 * user).
 */
export interface GroupCommitOptions<I, O> {
  /** Writes one batch; resolves with each item's result, in the batch's order. */
  write(items: I[]): Promise<O[]>;
  /** Items in one batch, at most (default 64). */
  maxBatch?: number;
  /** Batches running at once (default 4). */
  parallel?: number;
  /** The order key: same-key items are written one batch after another, in arrival order. */
  keyOf?: (item: I) => string;
  /** Two items of one key never share a batch (default false: they do, in arrival order). */
  onePerKey?: boolean;
  /**
   * A key with an item in a batch still running waits for it (default true): what keeps a key's
   * items in arrival order. False where the write orders them itself (task creation takes the
   * user's lock and next sequence in the statement): a user's concurrent items then never wait
   * on one another, e.g. each for its own timeout while the database does not answer.
   */
  waitForKeyInFlight?: boolean;
  /**
   * A batch of several that fails is written again item by item, so that one bad item fails
   * alone (default true). The write must then be safe to repeat for the items it did not write:
   * a failed batch rolled back whole, so it is.
   */
  retryAlone?: boolean;
}

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

export function createGroupCommit<I, O>(options: GroupCommitOptions<I, O>): (item: I) => Promise<O> {
  const {
    write,
    maxBatch = 64,
    parallel = 4,
    keyOf,
    onePerKey = false,
    waitForKeyInFlight = true,
    retryAlone = true,
  } = options;
  let queue: Pending<I, O>[] = [];
  let inFlight = 0;
  let scheduled = false;
  /** Keys with an item in a batch that has not returned yet. */
  const busy = new Set<string>();

  function takeBatch(): Pending<I, O>[] {
    if (!keyOf) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      return batch;
    }
    const batch: Pending<I, O>[] = [];
    const later: Pending<I, O>[] = [];
    const taken = new Set<string>();
    /** A key with an item left behind: its later items stay behind it. */
    const waiting = new Set<string>();
    for (const p of queue) {
      const key = keyOf(p.item);
      const free =
        !waiting.has(key) &&
        !(waitForKeyInFlight && busy.has(key)) &&
        !(onePerKey && taken.has(key)) &&
        batch.length < maxBatch;
      if (free) {
        taken.add(key);
        batch.push(p);
      } else {
        waiting.add(key);
        later.push(p);
      }
    }
    queue = later;
    for (const key of taken) busy.add(key);
    return batch;
  }

  async function settle(batch: Pending<I, O>[]) {
    let results: O[];
    try {
      results = await write(batch.map((p) => p.item));
    } catch (err) {
      if (batch.length === 1 || !retryAlone) for (const p of batch) p.reject(err);
      else for (const p of batch) await settle([p]);
      return;
    }
    for (const [i, p] of batch.entries()) p.resolve(results[i] as O);
  }

  async function run(batch: Pending<I, O>[]) {
    inFlight++;
    try {
      await settle(batch);
    } finally {
      inFlight--;
      if (keyOf) for (const p of batch) busy.delete(keyOf(p.item));
      startBatches();
    }
  }

  function startBatches() {
    while (queue.length > 0 && inFlight < parallel) {
      const batch = takeBatch();
      if (batch.length === 0) return; // every queued key waits for a batch in flight
      void run(batch);
    }
  }

  return (item: I) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        startBatches();
      });
    });
}
