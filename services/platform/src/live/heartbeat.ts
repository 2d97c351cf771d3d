import type { LiveTransport } from './transport.js';

/** How often a slice of the connections is pinged: the heartbeat period is cut into slots this long. */
const HEARTBEAT_SLOT_MS = 100;

/**
 * A connection that did not answer its previous ping by its next one is dead. The connections
 * are spread over slots pinged one after another through the period, so that thousands of pings
 * (and their pongs) never land in one turn of the event loop: pinging 5,000 at once held the
 * loop long enough to show in the delivery tail (ADR 0007).
 */
export function createHeartbeat<T extends { readonly transport: LiveTransport }>(options: {
  periodMs: number;
  /** A member missed its ping: it is no longer watched; the caller ends it. */
  onDead: (member: T) => void;
}) {
  const slotCount = Math.max(1, Math.floor(options.periodMs / HEARTBEAT_SLOT_MS));
  const slots = Array.from({ length: slotCount }, () => new Set<T>());
  const slotOf = new Map<T, Set<T>>();
  const answered = new Set<T>();
  let nextSlot = 0;
  let added = 0;

  const timer = setInterval(() => {
    const slot = slots[nextSlot]!;
    nextSlot = (nextSlot + 1) % slotCount;
    for (const member of slot) {
      if (!answered.delete(member)) {
        forget(member);
        options.onDead(member);
        continue;
      }
      member.transport.ping();
    }
  }, options.periodMs / slotCount);
  timer.unref();

  function forget(member: T) {
    slotOf.get(member)?.delete(member);
    slotOf.delete(member);
    answered.delete(member);
  }

  return {
    /** Watches a member; whatever its transport counts as an answer (a pong, a flushed probe) keeps it. */
    add(member: T) {
      const slot = slots[added++ % slotCount]!;
      slot.add(member);
      slotOf.set(member, slot);
      answered.add(member);
      member.transport.onAlive(() => {
        if (slotOf.has(member)) answered.add(member);
      });
    },
    remove: forget,
    stop() {
      clearInterval(timer);
    },
  };
}
