import { type GroupOffsets, lagOfGroups, type TopicOffsets } from './kafka-lag.js';

const group = (
  committed: Record<string, Record<number, number>>,
  subscribed: string[] = [],
): GroupOffsets => ({
  committed: new Map(
    Object.entries(committed).map(([topic, partitions]) => [
      topic,
      new Map(Object.entries(partitions).map(([p, offset]) => [Number(p), offset])),
    ]),
  ),
  subscribed: new Set(subscribed),
});

// Two partitions: [start, end) = [0, 10) and [5, 8).
const topics: TopicOffsets = new Map([
  [
    'task-events',
    [
      { start: 0, end: 10 },
      { start: 5, end: 8 },
    ],
  ],
]);
const oldest = (g: string) => g !== 'broadcast-pod';

describe('lagOfGroups: log end minus where the group reads next, summed per topic', () => {
  test('committed offsets: end minus committed, per partition, summed', () => {
    const lag = lagOfGroups(topics, new Map([['audit', group({ 'task-events': { 0: 7, 1: 6 } })]]), oldest);
    expect(lag).toEqual([{ consumer: 'audit', topic: 'task-events', lag: 3 + 2 }]);
  });

  test('caught up is 0', () => {
    const lag = lagOfGroups(topics, new Map([['audit', group({ 'task-events': { 0: 10, 1: 8 } })]]), oldest);
    expect(lag).toEqual([{ consumer: 'audit', topic: 'task-events', lag: 0 }]);
  });

  test('a committed offset below the log start counts from the log start (retention removed the rest)', () => {
    const lag = lagOfGroups(topics, new Map([['audit', group({ 'task-events': { 0: 10, 1: 2 } })]]), oldest);
    expect(lag).toEqual([{ consumer: 'audit', topic: 'task-events', lag: 8 - 5 }]);
  });

  test('a partition without a committed offset: from the log start for an oldest-starting group, nothing for a newest-starting one', () => {
    const groups = new Map([
      ['audit', group({ 'task-events': { 0: 10 } })],
      ['broadcast-pod', group({ 'task-events': { 0: 10, 1: -1 } })],
    ]);
    expect(lagOfGroups(topics, groups, oldest)).toEqual([
      { consumer: 'audit', topic: 'task-events', lag: 3 },
      { consumer: 'broadcast-pod', topic: 'task-events', lag: 0 },
    ]);
  });

  test('a group subscribed but not committed yet (stuck on its first event) shows the whole retained topic', () => {
    const lag = lagOfGroups(topics, new Map([['recurring', group({}, ['task-events'])]]), oldest);
    expect(lag).toEqual([{ consumer: 'recurring', topic: 'task-events', lag: 10 + 3 }]);
  });

  test('topics not measured and groups with nothing on them are left out', () => {
    const groups = new Map([
      ['other-team', group({ payments: { 0: 1 } }, ['payments'])],
      ['audit', group({ 'task-events': { 0: 10, 1: 8 }, payments: { 0: 0 } })],
    ]);
    expect(lagOfGroups(topics, groups, oldest)).toEqual([
      { consumer: 'audit', topic: 'task-events', lag: 0 },
    ]);
  });
});
