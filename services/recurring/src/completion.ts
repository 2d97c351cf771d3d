import {
  type CreateOccurrenceBody,
  eventName,
  InvalidEventError,
  parseEvent,
  type Task,
} from '@taskstream/contracts';
import type {
  DeliveryContext,
  Envelope,
  HandlerResult,
  Invoker,
  Logger,
  Metrics,
  Pool,
} from '@taskstream/platform';
import {
  type NextOccurrence,
  nextOccurrence,
  RecurrenceRuleError,
  shiftWithDue,
} from '@taskstream/recurrence';
import { v5 as uuidv5 } from 'uuid';

/**
 * The id of a series' task number `occurrence`: a UUIDv5 in the series' namespace (the series id
 * is a UUID). Every completion of the same task therefore asks for the same next task.
 */
export function occurrenceTaskId(seriesId: string, occurrence: number): string {
  return uuidv5(`occurrence:${occurrence}`, seriesId);
}

/** The `task.completed` event's task, or undefined for any other event. Throws for a broken one. */
export function completedTaskOf(event: Envelope): Task | undefined {
  if (eventName(event.type) !== 'task.completed') return undefined;
  return parseEvent('task.completed', event).data.payload.task;
}

/** The series' next task as task-api's `POST /internal/tasks` takes it; null when the series ended. */
export function nextTaskOf(
  task: Task,
  dueLocal?: string | null,
): { body: CreateOccurrenceBody; next: NextOccurrence } | null {
  if (!task.recurrence) return null;
  const next = nextOccurrence({
    recurrence: task.recurrence,
    dueDate: task.due_date,
    completedAt: task.completed_at,
    timeZone: task.time_zone,
    occurrence: task.occurrence,
    dueLocal,
  });
  if (!next) return null;
  const seriesId = task.series_id ?? task.id;
  // A reminder at a fixed time moves with the due date; offsets follow it by themselves.
  const reminders = task.reminders.map((r) =>
    r.at !== undefined && task.due_date !== null
      ? {
          ...r,
          at: shiftWithDue({
            at: r.at,
            dueDate: task.due_date,
            nextDueDate: next.dueDate,
            timeZone: task.time_zone,
          }),
        }
      : r,
  );
  return {
    next,
    body: {
      id: occurrenceTaskId(seriesId, next.occurrence),
      user_id: task.user_id,
      title: task.title,
      description: task.description,
      priority: task.priority,
      tags: task.tags,
      due_date: next.dueDate,
      time_zone: task.time_zone,
      recurrence: task.recurrence,
      reminders,
      series_id: seriesId,
      occurrence: next.occurrence,
    },
  };
}

export interface CompletionHandlerOptions {
  pool: Pool;
  invoker: Invoker;
  logger: Logger;
  metrics: Metrics;
}

type Outcome = 'created' | 'existed' | 'ended';

/**
 * `task-events` consumer: on `task.completed` of a recurring task, creates the series' next task
 * through task-api. Other events are dropped. Effectively once: the inbox skips an event already
 * handled, and the next task's deterministic id makes task-api answer a repeated call with the
 * task it already has (200) instead of creating another.
 */
export function createCompletionHandler(options: CompletionHandlerOptions) {
  const { pool, invoker, logger, metrics } = options;
  const outcomes = metrics.counter('recurring_completions_total', 'Completed tasks handled by outcome', [
    'outcome',
  ]);
  const latency = metrics.histogram(
    'recurring_next_occurrence_seconds',
    'From the completion event to the next task created',
    [],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );

  async function record(eventId: string, task: Task, outcome: Outcome, next?: { id: string; due: string }) {
    await pool.query({
      name: 'recurring_inbox_record',
      text: `INSERT INTO recurring_inbox (event_id, task_id, series_id, outcome, next_task_id, next_due_date)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING`,
      values: [eventId, task.id, task.series_id ?? task.id, outcome, next?.id ?? null, next?.due ?? null],
    });
    outcomes.inc({ outcome });
  }

  return async function handle(event: Envelope, ctx?: DeliveryContext): Promise<HandlerResult> {
    // Only completions of recurring tasks matter; a broken task.completed event throws.
    const task = completedTaskOf(event);
    if (!task?.recurrence) return 'DROP';
    // Handled already? And the local time this task was meant for, if this service created it.
    const { rows } = await pool.query<{ seen: boolean; due_local: string | null }>({
      // Named, as the record below: parsed and planned once per connection.
      name: 'recurring_inbox_lookup',
      text: `SELECT EXISTS (SELECT 1 FROM recurring_inbox WHERE event_id = $1) AS seen,
              (SELECT due_local FROM recurring_occurrences WHERE task_id = $2 AND due_date = $3 AND time_zone = $4) AS due_local`,
      values: [event.id, task.id, task.due_date, task.time_zone],
    });
    if (rows[0]!.seen) return 'SUCCESS';
    let planned: ReturnType<typeof nextTaskOf>;
    try {
      planned = nextTaskOf(task, rows[0]!.due_local);
    } catch (err) {
      if (err instanceof RecurrenceRuleError) {
        throw new InvalidEventError(
          `task ${task.id} has an unusable recurrence rule "${task.recurrence.rule}": ${err.reason}`,
        );
      }
      throw err;
    }
    if (!planned) {
      await record(event.id, task, 'ended');
      logger.debug({ task_id: task.id, series_id: task.series_id }, 'series ended');
      return 'SUCCESS';
    }

    const { body, next } = planned;
    // Only a due date moved by a DST gap needs its intended local time kept: any other reads
    // right by itself (no row, no hint). Saves a write per occurrence, and the table stays small.
    if (next.shifted) {
      await pool.query(
        `INSERT INTO recurring_occurrences (task_id, series_id, occurrence, due_date, due_local, time_zone)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (task_id) DO NOTHING`,
        [body.id, body.series_id, body.occurrence, next.dueDate, next.local, body.time_zone],
      );
    }
    const response = await invoker.invoke<Task | { error?: { message?: string } }>({
      appId: 'task-api',
      method: 'POST',
      path: '/internal/tasks',
      body,
      // The next task's events continue the completion's trace.
      headers: { traceparent: ctx?.traceparent ?? event.traceparent ?? '' },
    });
    if (response.status !== 200 && response.status !== 201) {
      const detail = JSON.stringify(response.body)?.slice(0, 500);
      // 4xx will not change on retry, but retrying costs little and the DLQ then keeps the reason.
      throw new Error(
        `task-api POST /internal/tasks answered ${response.status} for task ${body.id}: ${detail}`,
      );
    }
    await record(event.id, task, response.status === 201 ? 'created' : 'existed', {
      id: body.id,
      due: next.dueDate,
    });
    const completedAt = Date.parse(task.completed_at ?? event.time);
    if (Number.isFinite(completedAt)) latency.observe(Math.max(0, Date.now() - completedAt) / 1000);
    logger.debug(
      { task_id: task.id, next_task_id: body.id, due_date: next.dueDate, status: response.status },
      'next occurrence',
    );
    return 'SUCCESS';
  };
}
