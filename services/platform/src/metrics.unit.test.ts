import { createMetrics } from './metrics.js';

describe('metrics', () => {
  test('on: series are registered and exposed with the prefix', async () => {
    const metrics = createMetrics('t_');
    metrics.counter('things_total', 'Things', ['kind']).inc({ kind: 'a' });
    metrics.histogram('took_seconds', 'Took').observe(0.2);
    const text = await metrics.registry.metrics();
    expect(text).toContain('t_things_total{kind="a"} 1');
    expect(text).toContain('t_took_seconds_count 1');
    expect(text).toContain('t_process_cpu_seconds_total');
  });

  test('off (METRICS_ENABLED=false): every series call does nothing and nothing is registered', async () => {
    const metrics = createMetrics('t_', { enabled: false });
    expect(metrics.enabled).toBe(false);
    metrics.counter('things_total', 'Things', ['kind']).labels({ kind: 'a' }).inc();
    metrics.histogram('took_seconds', 'Took').startTimer()();
    metrics.gauge('level', 'Level', [], (g) => g.set(3)).set(2);
    expect((await metrics.registry.metrics()).trim()).toBe('');
  });
});
