import { HttpError } from '@taskstream/platform';
import { conditions, decodeCursor, encodeCursor, searchTerms, selectionOf } from './query.js';

const alice = { userId: '0190f1a2-7b3c-7d4e-8f50-00000000000a', role: 'user' as const };
const bob = '0190f1a2-7b3c-7d4e-8f50-00000000000b';
const admin = { userId: '0190f1a2-7b3c-7d4e-8f50-0000000000ad', role: 'admin' as const };

describe('selectionOf', () => {
  it('limits a user to their own rows whatever they ask for', () => {
    expect(selectionOf(alice, {})).toMatchObject({ actor: alice.userId });
    expect(selectionOf(alice, { user_id: alice.userId })).toMatchObject({ actor: alice.userId });
    expect(selectionOf(alice, { user_id: bob })).toEqual({ empty: true });
  });

  it('lets an admin see everyone or filter by a user', () => {
    expect(selectionOf(admin, {}).actor).toBeUndefined();
    expect(selectionOf(admin, { user_id: bob }).actor).toBe(bob);
  });

  it('takes event types with or without the type prefix', () => {
    expect(selectionOf(admin, { event_type: 'com.taskstream.task.updated' }).action).toBe('task.updated');
    expect(selectionOf(admin, { event_type: 'task.completed' }).action).toBe('task.completed');
  });

  it('rejects a start after the end', () => {
    expect(() =>
      selectionOf(admin, { start_date: '2025-02-01T00:00:00Z', end_date: '2025-01-01T00:00:00Z' }),
    ).toThrow(HttpError);
  });
});

describe('search terms', () => {
  it('keeps letters and digits only, lower-cased, as separate words', () => {
    expect(searchTerms("Dentist's  appointment: 10:30 & (Zahnärztin)")).toEqual([
      'dentist',
      's',
      'appointment',
      '10',
      '30',
      'zahnärztin',
    ]);
    expect(searchTerms('!!! ***')).toEqual([]);
  });

  it('becomes one prefix query with every word required', () => {
    const params: unknown[] = [];
    expect(conditions({ terms: ['dent', 'appoint'] }, params)).toEqual([
      `search @@ to_tsquery('simple', $1)`,
    ]);
    expect(params).toEqual(['dent:* & appoint:*']);
  });

  it("checks one user's rows one by one rather than through the search index", () => {
    expect(conditions({ actor: bob, terms: ['dent'] }, [])[1]).toBe(
      `(search || ''::tsvector) @@ to_tsquery('simple', $2)`,
    );
  });

  it('a query without words filters nothing', () => {
    expect(selectionOf(admin, { q: '???' }).terms).toBeUndefined();
  });
});

describe('conditions', () => {
  it('binds every filter as a parameter', () => {
    const params: unknown[] = [];
    const where = conditions(
      {
        actor: bob,
        taskId: alice.userId,
        action: 'task.updated',
        start: '2025-01-01T00:00:00Z',
        end: '2025-02-01T00:00:00Z',
      },
      params,
    );
    expect(where).toEqual([
      'actor = $1::uuid',
      'task_id = $2::uuid',
      'action = $3',
      'time >= $4::timestamptz',
      'time < $5::timestamptz',
    ]);
    expect(params).toEqual([
      bob,
      alice.userId,
      'task.updated',
      '2025-01-01T00:00:00Z',
      '2025-02-01T00:00:00Z',
    ]);
    expect(conditions({ empty: true, actor: bob }, [])).toEqual(['false']);
  });

  it('finds the actor of an email through audit_actors, any letter case, beside the own-rows rule', () => {
    const params: unknown[] = [];
    expect(conditions(selectionOf(alice, { actor_email: 'Bob@Example.com' }), params)).toEqual([
      'actor = $1::uuid',
      'actor IN (SELECT user_id FROM audit_actors WHERE lower(email) = lower($2))',
    ]);
    expect(params).toEqual([alice.userId, 'Bob@Example.com']);
  });
});

describe('cursor', () => {
  it('round-trips a position and rejects anything else', () => {
    const position: [string, string] = ['2025-01-01T10:00:00.123456Z', '42'];
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
    for (const bad of [
      'garbage',
      encodeCursor(['2025-01-01', '1'] as never),
      Buffer.from('["2025-01-01T10:00:00.123456Z","1; drop"]').toString('base64url'),
    ]) {
      expect(() => decodeCursor(bad)).toThrow(HttpError);
    }
  });
});
