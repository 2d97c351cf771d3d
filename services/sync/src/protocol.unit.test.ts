import {
  matchesFilter,
  parseLiveQuery,
  QueryError,
  replayPlan,
  type SyncedEvent,
  tokenFromProtocols,
} from './protocol.js';

const event = (task?: { status?: string; tags?: string[] }, taskId = 't1'): SyncedEvent => ({
  id: 'e1',
  type: 'com.taskstream.task.updated',
  time: '2025-01-01T00:00:00Z',
  data: { user_id: 'u1', task_id: taskId, sequence: 1, payload: task ? { task } : {}, changed_fields: [] },
});

describe('parseLiveQuery', () => {
  it('reads since and list filters given either way', () => {
    const q = parseLiveQuery(new URLSearchParams('since=42&tag=a,b&tag=c&status=pending&task_id=x'));
    expect(q.since).toBe(42);
    expect([...q.filter.tags!]).toEqual(['a', 'b', 'c']);
    expect([...q.filter.statuses!]).toEqual(['pending']);
    expect([...q.filter.taskIds!]).toEqual(['x']);
  });

  it('leaves since undefined when absent and rejects what is not a count', () => {
    expect(parseLiveQuery(new URLSearchParams('')).since).toBeUndefined();
    expect(parseLiveQuery(new URLSearchParams('since=')).since).toBeUndefined();
    expect(parseLiveQuery(new URLSearchParams('since=0')).since).toBe(0);
    for (const bad of ['since=-1', 'since=1.5', 'since=abc', 'status=open', 'token=abc', 'token=']) {
      expect(() => parseLiveQuery(new URLSearchParams(bad))).toThrow(QueryError);
    }
  });
});

describe('tokenFromProtocols', () => {
  it('takes the protocol after bearer', () => {
    expect(tokenFromProtocols('bearer, eyJabc')).toBe('eyJabc');
    expect(tokenFromProtocols('v1,bearer,eyJabc')).toBe('eyJabc');
    expect(tokenFromProtocols('bearer')).toBeUndefined();
    expect(tokenFromProtocols('eyJabc')).toBeUndefined();
    expect(tokenFromProtocols(undefined)).toBeUndefined();
  });
});

describe('matchesFilter', () => {
  it('passes everything without filters', () => {
    expect(matchesFilter(event(), {})).toBe(true);
  });

  it('matches task ids, statuses and any of the tags, all at once', () => {
    const e = event({ status: 'pending', tags: ['work', 'home'] });
    expect(matchesFilter(e, { taskIds: new Set(['t1']) })).toBe(true);
    expect(matchesFilter(e, { taskIds: new Set(['t2']) })).toBe(false);
    expect(matchesFilter(e, { statuses: new Set(['completed']) })).toBe(false);
    expect(matchesFilter(e, { tags: new Set(['home']) })).toBe(true);
    expect(matchesFilter(e, { tags: new Set(['garden']) })).toBe(false);
    expect(
      matchesFilter(e, { statuses: new Set(['pending']), tags: new Set(['work']), taskIds: new Set(['t1']) }),
    ).toBe(true);
  });

  it('lets events without a task through only a task id filter', () => {
    expect(matchesFilter(event(undefined), { taskIds: new Set(['t1']) })).toBe(true);
    expect(matchesFilter(event(undefined), { tags: new Set(['work']) })).toBe(false);
  });
});

describe('replayPlan', () => {
  it('replays when the window still holds the next sequence', () => {
    expect(replayPlan(5, 10, 6)).toBe('replay');
    expect(replayPlan(5, 10, 1)).toBe('replay');
    expect(replayPlan(0, 3, 1)).toBe('replay');
  });
  it('has nothing to do at the current position', () => {
    expect(replayPlan(10, 10, undefined)).toBe('none');
    expect(replayPlan(0, 0, undefined)).toBe('none');
  });
  it('resyncs beyond the window or ahead of the server', () => {
    expect(replayPlan(5, 10, 7)).toBe('resync');
    expect(replayPlan(5, 10, undefined)).toBe('resync');
    expect(replayPlan(11, 10, undefined)).toBe('resync');
  });
});
