import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorMessage, isUnavailable } from './lib/api.js';
import type { TaskStore } from './lib/tasks.js';

export interface Resource<T> {
  data: T | undefined;
  loading: boolean;
  /** The endpoint's service is not deployed (404) or the server is unreachable. */
  unavailable: boolean;
  error: string | null;
  reload(): Promise<void>;
}

/** Loads `fetcher` now and whenever `deps` change; a stale answer never replaces a newer one. */
export function useResource<T>(fetcher: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Resource<T> {
  const [state, setState] = useState<{
    data?: T;
    loading: boolean;
    unavailable: boolean;
    error: string | null;
  }>({
    loading: true,
    unavailable: false,
    error: null,
  });
  const latest = useRef<AbortController | null>(null);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;

  const reload = useCallback(async () => {
    latest.current?.abort();
    const controller = new AbortController();
    latest.current = controller;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await fetcherRef.current(controller.signal);
      if (latest.current === controller) setState({ data, loading: false, unavailable: false, error: null });
    } catch (err) {
      if (controller.signal.aborted) return;
      setState((s) => ({
        data: s.data,
        loading: false,
        unavailable: isUnavailable(err),
        error: errorMessage(err),
      }));
    }
  }, []);

  useEffect(() => {
    void reload();
    return () => latest.current?.abort();
  }, deps);

  return {
    data: state.data,
    loading: state.loading,
    unavailable: state.unavailable,
    error: state.error,
    reload,
  };
}

/** Re-renders when the task store changes. */
export function useStore(store: TaskStore): TaskStore {
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((n) => n + 1)), [store]);
  return store;
}

/** Calls `fn` every `ms` while mounted (one call at a time, never overlapping). */
export function usePolling(fn: () => Promise<unknown>, ms: number, enabled = true) {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => {
    if (!enabled) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let active = true;
    const tick = async () => {
      const started = Date.now();
      try {
        await fnRef.current();
      } finally {
        if (active) timer = setTimeout(tick, Math.max(0, ms - (Date.now() - started)));
      }
    };
    void tick();
    return () => {
      active = false;
      if (timer) clearTimeout(timer);
    };
  }, [ms, enabled]);
}
