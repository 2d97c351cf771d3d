import {
  CreateOccurrenceBody,
  CreateTaskBody,
  ListTasksQuery,
  type Task,
  UpdateTaskBody,
} from '@taskstream/contracts';
import {
  type Auth,
  assertSameRequest,
  badRequest,
  type EventBus,
  idempotencyOf,
  newId,
  notFound,
  type Pool,
  parse,
  preconditionFailed,
  principalOf,
  requireAppToken,
} from '@taskstream/platform';
import { type Request, type Response, Router } from 'express';
import { createTaskWriter } from './create-batch.js';
import { changeTask } from './mutations.js';
import { findTask, listTasks } from './task-store.js';

export interface TaskRoutesOptions {
  pool: Pool;
  auth: Auth;
  appToken?: string;
  /** Publishes each mutation's events in its transaction. */
  bus: EventBus;
  /** Rejects a recurrence rule that cannot be used (400 with the reason). */
  checkRecurrence: (task: Pick<Task, 'recurrence' | 'due_date' | 'time_zone' | 'occurrence'>) => void;
}

const sendTask = (res: Response, task: Task, status = 200) => {
  res.status(status).setHeader('etag', `"${task.version}"`).json(task);
};

/** `If-Match: "3"`, `W/"3"` or `3`; absent means unconditional. */
function expectedVersion(req: Request): number | undefined {
  const header = req.header('if-match');
  if (header === undefined) return undefined;
  // Quoted or bare, but not half-quoted: `"3` is a typo, not version 3.
  const match = /^\s*(?:W\/)?(?:"(\d+)"|(\d+))\s*$/.exec(header);
  if (!match) throw badRequest('If-Match must be the task version, e.g. "3"', { header: 'If-Match' });
  return Number(match[1] ?? match[2]);
}

/** 412 when If-Match named another version. */
function checkVersion(task: Task, expected: number | undefined) {
  if (expected !== undefined && expected !== task.version) {
    throw preconditionFailed(`task is at version ${task.version}, not ${expected}`, {
      current_version: task.version,
    });
  }
}

function newTask(body: CreateTaskBody, userId: string, time: string, id = newId()): Task {
  return {
    id,
    user_id: userId,
    title: body.title,
    description: body.description,
    status: 'pending',
    priority: body.priority,
    tags: body.tags,
    due_date: body.due_date === null ? null : new Date(body.due_date).toISOString(),
    time_zone: body.time_zone,
    recurrence: body.recurrence,
    reminders: body.reminders,
    series_id: body.recurrence ? id : null,
    occurrence: 1,
    version: 1,
    created_at: time,
    updated_at: time,
    completed_at: null,
  };
}

export function taskRoutes(options: TaskRoutesOptions): Router {
  const { pool, auth, checkRecurrence, bus } = options;
  const createTask = createTaskWriter(pool, bus);
  const router = Router();

  router.get('/api/tasks', auth.requireUser, async (req, res) => {
    const query = parse(ListTasksQuery, req.query, 'query');
    res.json(await listTasks(pool, principalOf(req).userId, query));
  });

  router.post('/api/tasks', auth.requireUser, async (req, res) => {
    const body = parse(CreateTaskBody, req.body);
    const { userId } = principalOf(req);
    const idempotency = idempotencyOf(req, body);
    const task = newTask(body, userId, new Date().toISOString());
    checkRecurrence(task);
    const outcome = await createTask(task, req.traceparent, idempotency);
    if (outcome.kind === 'replayed') {
      assertSameRequest(outcome.prior.request_hash, idempotency);
      return sendTask(res, outcome.prior.response, outcome.prior.status);
    }
    // A new id every time: it cannot exist already.
    if (outcome.kind === 'exists') throw new Error(`task id ${task.id} was already taken`);
    sendTask(res, task, 201);
  });

  router.get('/api/tasks/:id', auth.requireUser, async (req, res) => {
    const task = await findTask(pool, principalOf(req).userId, String(req.params.id));
    if (!task) throw notFound('task');
    sendTask(res, task);
  });

  router.patch('/api/tasks/:id', auth.requireUser, async (req, res) => {
    const body = parse(UpdateTaskBody, req.body);
    const expected = expectedVersion(req);
    const { userId } = principalOf(req);
    const id = String(req.params.id);
    const task = await changeTask(pool, bus, userId, id, req.traceparent, (before, time) => {
      if (!before) throw notFound('task');
      checkVersion(before, expected);
      const next: Task = { ...before, ...body, version: before.version + 1, updated_at: time };
      if (body.due_date !== undefined)
        next.due_date = body.due_date === null ? null : new Date(body.due_date).toISOString();
      if (body.recurrence !== undefined && before.series_id === null && body.recurrence !== null)
        next.series_id = before.id;
      if (body.recurrence !== undefined || body.due_date !== undefined || body.time_zone !== undefined)
        checkRecurrence(next);
      return { kind: 'updated', after: next };
    });
    sendTask(res, task);
  });

  const transition = (kind: 'completed' | 'reopened') => async (req: Request, res: Response) => {
    const { userId } = principalOf(req);
    const id = String(req.params.id);
    const task = await changeTask(pool, bus, userId, id, req.traceparent, (before, time) => {
      if (!before) throw notFound('task');
      const target = kind === 'completed' ? 'completed' : 'pending';
      // Completing a completed task (a double click) changes nothing and publishes nothing.
      if (before.status === target) return { unchanged: before };
      const after: Task = {
        ...before,
        status: target,
        completed_at: kind === 'completed' ? time : null,
        version: before.version + 1,
        updated_at: time,
      };
      return { kind, after };
    });
    sendTask(res, task);
  };
  router.post('/api/tasks/:id/complete', auth.requireUser, transition('completed'));
  router.post('/api/tasks/:id/reopen', auth.requireUser, transition('reopened'));

  router.delete('/api/tasks/:id', auth.requireUser, async (req, res) => {
    const expected = expectedVersion(req);
    const { userId } = principalOf(req);
    const id = String(req.params.id);
    await changeTask(pool, bus, userId, id, req.traceparent, (before, time) => {
      if (!before) throw notFound('task');
      checkVersion(before, expected);
      return { kind: 'deleted', after: { ...before, version: before.version + 1, updated_at: time } };
    });
    res.status(204).end();
  });

  // Service invocation only (the recurring service): the app token stands in for a user.
  router.post('/internal/tasks', requireAppToken(options.appToken), async (req, res) => {
    const body = parse(CreateOccurrenceBody, req.body);
    const task: Task = {
      ...newTask(body, body.user_id, new Date().toISOString(), body.id),
      series_id: body.series_id,
      occurrence: body.occurrence,
    };
    const outcome = await createTask(task, req.traceparent);
    if (outcome.kind === 'created') return sendTask(res, task, 201);
    // Deleted (tombstone) or live: either way the occurrence was already created once.
    const existing = await findTask(pool, body.user_id, body.id);
    sendTask(res, existing ?? task, 200);
  });

  return router;
}
