import client from 'prom-client';

/** What a series is when metrics are off (METRICS_ENABLED=false): every call does nothing. */
const OFF = {
  inc() {},
  dec() {},
  set() {},
  observe() {},
  reset() {},
  remove() {},
  startTimer: () => () => 0,
  labels: () => OFF,
} as unknown as client.Counter<string> & client.Histogram<string> & client.Gauge<string>;

/**
 * One registry per process. Series are created lazily by name so that every service can
 * ask for "its" counter without a central list drifting out of date. Off, nothing is recorded
 * and `/metrics` answers 404.
 */
export function createMetrics(prefix = 'taskstream_', options: { enabled?: boolean } = {}) {
  const enabled = options.enabled ?? true;
  const registry = new client.Registry();
  if (enabled) client.collectDefaultMetrics({ register: registry, prefix });
  const counters = new Map<string, client.Counter<string>>();
  const histograms = new Map<string, client.Histogram<string>>();
  const gauges = new Map<string, client.Gauge<string>>();

  return {
    registry,
    enabled,
    counter(name: string, help: string, labelNames: string[] = []) {
      if (!enabled) return OFF;
      let c = counters.get(name);
      if (!c) {
        c = new client.Counter({ name: prefix + name, help, labelNames, registers: [registry] });
        counters.set(name, c);
      }
      return c;
    },
    histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]) {
      if (!enabled) return OFF;
      let h = histograms.get(name);
      if (!h) {
        h = new client.Histogram({
          name: prefix + name,
          help,
          labelNames,
          registers: [registry],
          ...(buckets ? { buckets } : {}),
        });
        histograms.set(name, h);
      }
      return h;
    },
    gauge(
      name: string,
      help: string,
      labelNames: string[] = [],
      collect?: (g: client.Gauge<string>) => void | Promise<void>,
    ) {
      if (!enabled) return OFF;
      let g = gauges.get(name);
      if (!g) {
        g = new client.Gauge({
          name: prefix + name,
          help,
          labelNames,
          registers: [registry],
          collect: collect
            ? async function (this: client.Gauge<string>) {
                await collect(this);
              }
            : undefined,
        });
        gauges.set(name, g);
      }
      return g;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
