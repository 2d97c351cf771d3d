import type { Envelope } from '../../ports.js';
import type { LogRow } from './log-reader.js';

/** An event not handled in a pass: failed (with its error), or queued behind a failure, a held-back key or a stop. */
export interface Parked {
  row: LogRow;
  error?: string;
}

export interface ProcessorOptions {
  /** Events with the same order key run one after another, in log order. */
  orderKeyOf(row: LogRow): string;
  /** Order keys whose events wait in consumer_retries: their new events queue behind them. */
  blockedKeys: Set<string>;
  /** Order keys run at once. */
  concurrency: number;
  stopped(): boolean;
  /** Runs the handler once; the error text, or undefined when the event is done with. */
  attempt(event: Envelope, attemptNo: number): Promise<string | undefined>;
}

/**
 * The processor: runs a batch's handlers, order keys side by side (up to `concurrency`), one
 * key's events in log order. A failure parks the event and every later one of its key, which
 * joins `blockedKeys`. Returns what was parked, in log order per key.
 */
export async function processBatch(rows: LogRow[], options: ProcessorOptions): Promise<Parked[]> {
  const { orderKeyOf, blockedKeys } = options;
  const byKey = new Map<string, LogRow[]>();
  for (const row of rows) {
    const key = orderKeyOf(row);
    const list = byKey.get(key);
    if (list) list.push(row);
    else byKey.set(key, [row]);
  }
  const parked: Parked[] = [];
  const groups = [...byKey.entries()];
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const [key, list] = groups[next++]!;
      let i = 0;
      if (!blockedKeys.has(key)) {
        for (; i < list.length && !options.stopped(); i++) {
          const error = await options.attempt(list[i]!.event, 1);
          if (error !== undefined) {
            parked.push({ row: list[i]!, error });
            i++;
            break;
          }
        }
      }
      for (; i < list.length; i++) parked.push({ row: list[i]! });
      if (parked.some((p) => orderKeyOf(p.row) === key)) blockedKeys.add(key);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, groups.length) }, worker));
  return parked;
}
