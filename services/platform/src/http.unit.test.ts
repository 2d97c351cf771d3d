import type { AddressInfo } from 'node:net';
import { createHttpApp, finishApp } from './http.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';

// req.log is made on first use (ADR 0026): it must still carry the request's id and trace id.
test('a request logs with its request id and trace id', async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ LOG_LEVEL: 'info', NODE_ENV: 'test' }, 'http-test', {
    write: (line: string) => void lines.push(JSON.parse(line)),
  });
  const app = createHttpApp({
    logger,
    metrics: createMetrics('t_', { enabled: false }),
    bodyLimitBytes: 1000,
  });
  app.get('/hello', (req, res) => {
    req.log.info('hello');
    res.json({ ok: true });
  });
  finishApp(app);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const { port } = server.address() as AddressInfo;
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const res = await fetch(`http://127.0.0.1:${port}/hello`, {
      headers: { 'x-request-id': 'req-1', traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    });
    expect(res.status).toBe(200);
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'hello', request_id: 'req-1', trace_id: traceId }),
    ]);
  } finally {
    server.close();
  }
});
