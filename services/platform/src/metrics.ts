import client from 'prom-client';

/**
 * One registry per process. Series are created lazily by name so that every service can
 * ask for "its" counter without a central list drifting out of date.
 */
export function createMetrics(prefix = 'taskstream_') {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix });
  const counters = new Map<string, client.Counter<string>>();
  const histograms = new Map<string, client.Histogram<string>>();
  const gauges = new Map<string, client.Gauge<string>>();

  return {
    registry,
    counter(name: string, help: string, labelNames: string[] = []) {
      let c = counters.get(name);
      if (!c) {
        c = new client.Counter({ name: prefix + name, help, labelNames, registers: [registry] });
        counters.set(name, c);
      }
      return c;
    },
    histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]) {
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
