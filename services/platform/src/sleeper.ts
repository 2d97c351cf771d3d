/**
 * A loop's wait for its next look that `wake()` cuts short (a notification came, or a stop).
 * One sleep at a time; a wake with nobody asleep does nothing (the loop keeps its own flag).
 */
export function createSleeper() {
  let wakeUp: (() => void) | undefined;
  return {
    sleep(ms: number) {
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      }).finally(() => {
        wakeUp = undefined;
      });
    },
    wake() {
      wakeUp?.();
    },
  };
}
