import { InvalidEventError, parseEvent } from './incoming.js';
import { sampleEvent } from './test-support/event-samples.js';

describe('parseEvent', () => {
  it('returns the event as its contract reads it', () => {
    const event = sampleEvent('task.updated');
    expect(parseEvent('task.updated', event)).toEqual(event);
  });

  it('names the event and every broken field', () => {
    const event = sampleEvent('task.updated');
    const broken = { ...event, data: { ...event.data, task_id: 'not-a-uuid', sequence: -1 } };
    let thrown: unknown;
    try {
      parseEvent('task.updated', broken);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InvalidEventError);
    const message = (thrown as Error).message;
    expect(message).toMatch(new RegExp(`^invalid task\\.updated event ${event.id}: `));
    expect(message).toMatch(/data\.task_id: /);
    expect(message).toMatch(/data\.sequence: /);
  });

  it('refuses an event of another type and anything that is not an event', () => {
    expect(() => parseEvent('task.completed', sampleEvent('task.updated'))).toThrow(InvalidEventError);
    expect(() => parseEvent('task.completed', null)).toThrow(
      /invalid task\.completed event undefined: \(event\)/,
    );
  });
});
