import { InvalidEventError } from '@taskstream/contracts';
import { entryOf, identityOf } from './ingest.js';
import { securityEvent, task, taskEvent } from './test-support/events.js';

const user = '0190f1a2-7b3c-7d4e-8f50-00000000000a';

describe('entryOf', () => {
  it('maps a task event to the audit fields', () => {
    const t = task(user, { title: 'Dentist', version: 2 });
    const changes = { title: { before: 'Dentst', after: 'Dentist' } };
    const event = taskEvent('updated', t, {
      changes,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      time: new Date('2025-03-01T10:00:00.123Z'),
    });
    expect(entryOf(event)).toEqual({
      event_id: event.id,
      time: '2025-03-01T10:00:00.123Z',
      actor: user,
      action: 'task.updated',
      task_id: t.id,
      changes,
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      source: '/taskstream/task-api',
      payload: { task: t, changes },
    });
  });

  it('records no changes for an event without them, and keeps payload fields the schema does not know', () => {
    const event = taskEvent('created', task(user));
    (event.data as { payload: Record<string, unknown> }).payload.extra = { kept: true };
    const entry = entryOf(event)!;
    expect(entry.changes).toEqual({});
    expect(entry.payload).toMatchObject({ extra: { kept: true } });
  });

  it('normalises the time to UTC milliseconds', () => {
    const event = { ...taskEvent('completed', task(user)), time: '2025-03-01T11:00:00.123456+01:00' };
    expect(entryOf(event)!.time).toBe('2025-03-01T10:00:00.123Z');
  });

  it('ignores event types the audit does not record', () => {
    expect(
      entryOf({ ...taskEvent('created', task(user)), type: 'com.taskstream.reminder.sent' }),
    ).toBeUndefined();
    expect(entryOf({ ...taskEvent('created', task(user)), type: 'com.example.other' })).toBeUndefined();
  });

  it('throws naming the field of an invalid task event', () => {
    const event = taskEvent('created', task(user));
    (event.data as { user_id: string }).user_id = 'not-a-uuid';
    expect(() => entryOf(event)).toThrow(InvalidEventError);
    expect(() => entryOf(event)).toThrow(/data\.user_id/);
  });
});

describe('identityOf', () => {
  const admin = '0190f1a2-7b3c-7d4e-8f50-00000000000b';
  const of = (...args: Parameters<typeof securityEvent>) =>
    identityOf(entryOf(securityEvent(...args).event)!);

  it('takes the email of a successful login and of a self-registration that created the account', () => {
    expect(of('auth.login_succeeded', user, { email: 'a@example.com' })).toEqual({
      user_id: user,
      email: 'a@example.com',
    });
    expect(of('auth.registered', user, { email: 'a@example.com', outcome: 'created', by: 'self' })).toEqual({
      user_id: user,
      email: 'a@example.com',
    });
  });

  it('takes nothing from a typed email, an existing account, an admin registering someone, or a task', () => {
    expect(
      of('auth.login_failed', user, { email: 'typo@example.com', reason: 'wrong_credentials' }),
    ).toBeUndefined();
    expect(
      of('auth.registered', user, { email: 'a@example.com', outcome: 'already_registered', by: 'self' }),
    ).toBeUndefined();
    expect(
      of('auth.registered', admin, { email: 'c@example.com', outcome: 'created', by: 'admin' }),
    ).toBeUndefined();
    expect(of('auth.login_succeeded', null, { email: 'a@example.com' })).toBeUndefined();
    expect(identityOf(entryOf(taskEvent('created', task(user)))!)).toBeUndefined();
  });
});
