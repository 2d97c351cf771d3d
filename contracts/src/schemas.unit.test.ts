import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { GENERATED_DIR } from '../scripts/lib/artifacts.js';
import { eventSchemaFile } from '../scripts/lib/events.js';
import { PushSubscriptionBody, RecurrencePreviewBody, Routes } from './api.js';
import { DateTime, TimeZone } from './common.js';
import { CloudEvent, EventNames, EventSchemas } from './events.js';
import { CreateTransactionBody, CreateWalletBody } from './payments.js';
import { CreateTaskBody, UpdateTaskBody } from './tasks.js';
import { makeAjv } from './test-support/ajv.js';
import { sampleEvent } from './test-support/event-samples.js';
import { TIME_ZONES } from './time-zones.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const publishedSchema = (name: string) =>
  JSON.parse(readFileSync(join(root, GENERATED_DIR, eventSchemaFile(name)), 'utf8')) as Record<
    string,
    unknown
  >;

describe('events', () => {
  test.each(EventNames)('a sample %s parses with its schema and the CloudEvent union', (name) => {
    const event = sampleEvent(name);
    expect(EventSchemas[name].safeParse(event).error).toBeUndefined();
    expect(CloudEvent.parse(event).type).toBe(`com.taskstream.${name}`);
  });

  test.each(EventNames)('a sample %s validates against its published JSON Schema', (name) => {
    const validate = makeAjv().compile(publishedSchema(name));
    expect(validate(sampleEvent(name)) ? [] : validate.errors).toEqual([]);
  });

  test('an event keeps parsing with attributes Dapr or a dead-letter adds', () => {
    const event = {
      ...sampleEvent('task.created'),
      traceid: 'x',
      pubsubname: 'pubsub',
      topic: 'task-events',
      deadletterattempts: 4,
    };
    expect(EventSchemas['task.created'].safeParse(event).success).toBe(true);
    expect(makeAjv().compile(publishedSchema('task.created'))(event)).toBe(true);
  });

  test('an unknown event type, a wrong type or a missing attribute is rejected', () => {
    expect(
      CloudEvent.safeParse({ ...sampleEvent('task.created'), type: 'com.taskstream.task.exploded' }).success,
    ).toBe(false);
    expect(EventSchemas['task.updated'].safeParse(sampleEvent('task.created')).success).toBe(false);
    const { traceparent: _, ...untraced } = sampleEvent('task.created');
    expect(EventSchemas['task.created'].safeParse(untraced).success).toBe(false);
  });

  test('an impossible date in an event is rejected by zod and by the published schema', () => {
    const event = sampleEvent('reminder.scheduled');
    const bad = {
      ...event,
      data: { ...event.data, payload: { ...event.data.payload, fire_at: '2025-02-30T08:30:00Z' } },
    };
    expect(EventSchemas['reminder.scheduled'].safeParse(bad).success).toBe(false);
    expect(makeAjv().compile(publishedSchema('reminder.scheduled'))(bad)).toBe(false);
  });
});

/** A minimal valid body for every route that takes one; a new route needs an entry here. */
const validBodies: Record<string, unknown> = {
  'post /api/auth/register': { email: 'ada@example.com', password: 'correct horse', name: 'Ada' },
  'post /api/auth/login': { email: 'ada@example.com', password: 'x' },
  'post /api/auth/password': { current_password: 'x', new_password: 'a longer passphrase' },
  'post /api/admin/users': { email: 'bo@example.com', password: 'correct horse', name: 'Bo', role: 'admin' },
  'post /api/admin/dlq/{id}/discard': { reason: 'the task was deleted before the fix' },
  'post /api/admin/users/{id}/disable': { reason: 'left the company' },
  'post /api/audit-logs/replay': { from: '2025-01-31T09:00:00Z', dry_run: true, limit: 500 },
  'post /api/sync/replay': { from: '42' },
  'post /api/tasks': {
    title: 'Water the plants',
    reminders: [{ offset_minutes: 30 }],
    recurrence: { rule: 'daily' },
  },
  'patch /api/tasks/{id}': { title: 'Water all plants' },
  'post /api/recurrence/preview': {
    rule: 'monthly:31',
    start: '2025-01-31T09:00:00+01:00',
    time_zone: 'Europe/Berlin',
  },
  'post /api/preferences': { channels: ['email'] },
  'put /api/preferences': {
    channels: ['email'],
    quiet_hours: { start: '22:00', end: '07:00', time_zone: 'Europe/Berlin' },
  },
  'post /api/push/subscriptions': {
    endpoint: 'https://push.example.com/abc',
    keys: { p256dh: 'k', auth: 'a' },
  },
  'delete /api/push/subscriptions': { endpoint: 'https://push.example.com/abc' },
  'post /api/wallets': { currency: 'EUR', name: 'Everyday' },
  'post /api/wallets/{id}/deposits': { amount: 10_000 },
  'post /api/transactions': {
    from_wallet_id: '0190f1a2-7b3c-7d4e-8f50-00000000a001',
    to_wallet_id: '0190f1a2-7b3c-7d4e-8f50-00000000a002',
    amount: 1250,
  },
  'post /api/transactions/{id}/fail': { reason: 'fraud_suspected' },
};
const bodyRoutes = Routes.filter((r) => r.body).map(
  (r) => [`${r.method} ${r.path}`, r.body as z.ZodTypeAny] as const,
);
const queryRoutes = Routes.filter((r) => r.query).map(
  (r) => [`${r.method} ${r.path}`, r.query as z.ZodTypeAny] as const,
);
const issueCodes = (result: { error?: z.ZodError }) => result.error?.issues.map((i) => i.code) ?? [];

describe('REST bodies and queries', () => {
  test.each(bodyRoutes)('%s: a valid body parses and an unknown field is rejected', (key, schema) => {
    expect(key in validBodies).toBe(true);
    expect(schema.safeParse(validBodies[key]).error).toBeUndefined();
    expect(issueCodes(schema.safeParse({ ...(validBodies[key] as object), colour: 'red' }))).toContain(
      'unrecognized_keys',
    );
  });

  test.each(queryRoutes)('%s: an unknown query parameter is rejected', (_key, schema) => {
    expect(issueCodes(schema.safeParse({ colour: 'red' }))).toContain('unrecognized_keys');
  });

  test('nested objects of a body are strict too', () => {
    expect(CreateTaskBody.safeParse({ title: 't', recurrence: { rule: 'daily', every: 2 } }).success).toBe(
      false,
    );
    expect(
      CreateTaskBody.safeParse({ title: 't', reminders: [{ offset_minutes: 5, sound: 'bell' }] }).success,
    ).toBe(false);
  });

  test('a reminder has exactly one of offset_minutes and at; an update changes something', () => {
    expect(CreateTaskBody.safeParse({ title: 't', reminders: [{}] }).success).toBe(false);
    expect(
      CreateTaskBody.safeParse({ title: 't', reminders: [{ offset_minutes: 5, at: '2025-03-01T09:00:00Z' }] })
        .success,
    ).toBe(false);
    expect(UpdateTaskBody.safeParse({}).success).toBe(false);
  });

  test('defaults are applied', () => {
    expect(CreateTaskBody.parse({ title: '  Water  ' })).toMatchObject({
      title: 'Water',
      priority: 'medium',
      tags: [],
      due_date: null,
      time_zone: 'UTC',
      recurrence: null,
      reminders: [],
    });
  });
});

test('a push subscription expiry is whole milliseconds that fit its bigint column', () => {
  const body = { endpoint: 'https://push.example.com/x', keys: { p256dh: 'k', auth: 'a' } };
  expect(PushSubscriptionBody.safeParse({ ...body, expirationTime: 1767225600000 }).success).toBe(true);
  for (const expirationTime of [1.2211254341883434e303, -1, 1.5])
    expect(PushSubscriptionBody.safeParse({ ...body, expirationTime }).success).toBe(false);
});

describe('dates and time zones', () => {
  test.each([
    '2025-02-30T10:00:00Z',
    '2025-02-29T10:00:00Z',
    '2025-04-31T10:00:00+02:00',
    '2025-13-01T10:00:00Z',
    '2025-03-01T24:00:00Z',
    '2025-03-01T10:60:00Z',
    '2025-03-01T10:00:00',
    '2025-03-01',
    'tomorrow',
  ])('%s is not a date-time', (value) => {
    expect(DateTime.safeParse(value).success).toBe(false);
  });

  test.each(['2024-02-29T10:00:00Z', '2025-03-30T02:30:00+01:00', '2025-12-31T23:59:59.999-05:00'])(
    '%s is',
    (value) => {
      expect(DateTime.safeParse(value).success).toBe(true);
    },
  );

  test('an offset beyond what PostgreSQL stores (±15:59) is written as the same instant in UTC; others are kept', () => {
    expect(DateTime.parse('0012-10-22T19:37:22+21:51')).toBe('0012-10-21T21:46:22.000Z');
    expect(DateTime.parse('2025-01-01T00:00:00-23:00')).toBe('2025-01-01T23:00:00.000Z');
    expect(DateTime.parse('2025-03-30T02:30:00.123456+14:00')).toBe('2025-03-30T02:30:00.123456+14:00');
  });

  test.each(['Mars/Olympus_Mons', 'Europe/Berln', '', 'local'])('%j is not a time zone', (zone) => {
    expect(TimeZone.safeParse(zone).success).toBe(false);
  });

  test.each(['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'])('%s is', (zone) => {
    expect(TimeZone.safeParse(zone).success).toBe(true);
  });

  test('every zone the document lists is one this runtime knows; aliases it leaves out are taken too', () => {
    expect(TIME_ZONES.filter((zone) => !TimeZone.safeParse(zone).success)).toEqual([]);
    for (const alias of ['US/Eastern', 'Etc/UTC', 'Asia/Calcutta']) {
      expect(TIME_ZONES).not.toContain(alias);
      expect(TimeZone.safeParse(alias).success).toBe(true);
    }
  });

  test('bodies reject impossible dates and unknown zones', () => {
    expect(CreateTaskBody.safeParse({ title: 't', due_date: '2025-02-30T09:00:00Z' }).success).toBe(false);
    expect(CreateTaskBody.safeParse({ title: 't', time_zone: 'Nowhere/Land' }).success).toBe(false);
    expect(UpdateTaskBody.safeParse({ due_date: '2025-06-31T09:00:00Z' }).success).toBe(false);
    expect(RecurrencePreviewBody.safeParse({ rule: 'daily', start: '2025-02-29T09:00:00Z' }).success).toBe(
      false,
    );
    expect(
      RecurrencePreviewBody.safeParse({
        rule: 'daily',
        start: '2025-01-01T09:00:00Z',
        time_zone: 'Europe/Nowhere',
      }).success,
    ).toBe(false);
  });
});

describe('payment bodies', () => {
  const from = '0190f1a2-7b3c-7d4e-8f50-00000000a001';
  const to = '0190f1a2-7b3c-7d4e-8f50-00000000a002';
  test('amounts are positive integer minor units, currencies ISO 4217 codes', () => {
    for (const amount of [0, -5, 12.5, 2 ** 53, '100'])
      expect(
        CreateTransactionBody.safeParse({ from_wallet_id: from, to_wallet_id: to, amount }).success,
      ).toBe(false);
    expect(CreateWalletBody.safeParse({ currency: 'eur' }).success).toBe(false);
    expect(CreateWalletBody.safeParse({ currency: 'EURO' }).success).toBe(false);
  });
  const issues = (body: unknown) => {
    const result = CreateTransactionBody.safeParse(body);
    return result.success ? [] : result.error.issues.map((i) => [i.path.join('.'), i.message]);
  };
  test('a transfer, with or without kind, names the wallet it pays', () => {
    for (const body of [
      { from_wallet_id: from, to_wallet_id: to, amount: 1 },
      { kind: 'transfer', from_wallet_id: from, to_wallet_id: to, amount: 1 },
    ])
      expect(CreateTransactionBody.parse(body)).toEqual({
        kind: 'transfer',
        from_wallet_id: from,
        to_wallet_id: to,
        amount: 1,
        description: '',
      });
    expect(issues({ from_wallet_id: from, amount: 1 })).toEqual([
      ['to_wallet_id', 'a transfer needs to_wallet_id'],
    ]);
    expect(issues({ kind: 'transfer', from_wallet_id: from, to_wallet_id: from, amount: 1 })).toEqual([
      ['to_wallet_id', 'a transfer needs two different wallets'],
    ]);
    expect(issues({ from_wallet_id: from, to_wallet_id: 'wallet-2', amount: 1 })).toEqual([
      ['to_wallet_id', 'Invalid UUID'],
    ]);
  });
  test('a withdrawal names kind and no wallet to pay', () => {
    expect(CreateTransactionBody.parse({ kind: 'withdrawal', from_wallet_id: from, amount: 1 })).toEqual({
      kind: 'withdrawal',
      from_wallet_id: from,
      amount: 1,
      description: '',
    });
    for (const named of [to, null])
      expect(issues({ kind: 'withdrawal', from_wallet_id: from, to_wallet_id: named, amount: 1 })).toEqual([
        ['to_wallet_id', 'a withdrawal goes out of the system: to_wallet_id is not allowed'],
      ]);
  });
  test('any other kind is refused naming kind', () => {
    for (const kind of ['deposit', null, 1])
      expect(issues({ kind, from_wallet_id: from, to_wallet_id: to, amount: 1 })).toEqual([
        ['kind', "kind is 'transfer' (the default) or 'withdrawal'"],
      ]);
  });
  test('the parsed body keeps its field order, which the Idempotency-Key hash is taken over', () => {
    expect(
      Object.keys(
        CreateTransactionBody.parse({ amount: 1, to_wallet_id: to, from_wallet_id: from, kind: 'transfer' }),
      ),
    ).toEqual(['kind', 'from_wallet_id', 'to_wallet_id', 'amount', 'description']);
    expect(
      Object.keys(CreateTransactionBody.parse({ amount: 1, from_wallet_id: from, kind: 'withdrawal' })),
    ).toEqual(['kind', 'from_wallet_id', 'amount', 'description']);
  });
});
