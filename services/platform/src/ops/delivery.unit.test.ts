import { Writable } from 'node:stream';
import { jest } from '@jest/globals';
import { pino } from 'pino';
import type { Envelope } from '../ports.js';
import { deliveryMetrics, runHandler } from './delivery.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';

function event(): Envelope {
  return {
    specversion: '1.0',
    id: 'e-1',
    source: 'test',
    type: 'com.taskstream.test',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    traceparent: `00-${TRACE}-b7ad6b7169203331-01`,
    data: {},
  } as Envelope;
}

/** A pino logger writing JSON lines into an array, with `child` calls counted. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { base: undefined },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  const child = jest.spyOn(logger, 'child');
  return { logger, lines, child };
}

describe('runHandler', () => {
  const delivery = { topic: 'task-events', consumer: 'c', attempt: 2 };

  test("the handler's log carries the trace id, topic, consumer, event id and attempt", async () => {
    const { logger, lines } = capturingLogger();
    const error = await runHandler(
      {
        topic: 'task-events',
        consumer: 'c',
        handler: async (_event, ctx) => {
          ctx.log?.info('handled');
        },
      },
      event(),
      delivery,
      logger,
      deliveryMetrics(undefined),
    );
    expect(error).toBeUndefined();
    expect(lines).toEqual([
      expect.objectContaining({
        msg: 'handled',
        trace_id: TRACE,
        topic: 'task-events',
        consumer: 'c',
        event_id: 'e-1',
        attempt: 2,
      }),
    ]);
  });

  test('no child logger is made for a handler that does not log', async () => {
    const { logger, child } = capturingLogger();
    await runHandler(
      { topic: 'task-events', consumer: 'c', handler: async () => 'SUCCESS' },
      event(),
      delivery,
      logger,
      deliveryMetrics(undefined),
    );
    expect(child).not.toHaveBeenCalled();
  });

  test("a handler's error comes back as its message", async () => {
    const { logger } = capturingLogger();
    const error = await runHandler(
      {
        topic: 'task-events',
        consumer: 'c',
        handler: async () => {
          throw new Error('bad payload');
        },
      },
      event(),
      delivery,
      logger,
      deliveryMetrics(undefined),
    );
    expect(error).toBe('bad payload');
  });
});
