import { randomUUID } from 'node:crypto';
import type { Task } from '@taskstream/contracts';

/** A valid pending task of `userId`, as task-api returns it, stamped now; `overrides` wins. */
export function sampleTask(userId: string, overrides: Partial<Task> = {}): Task {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    user_id: userId,
    title: 'Water the plants',
    description: '',
    status: 'pending',
    priority: 'medium',
    tags: [],
    due_date: null,
    time_zone: 'UTC',
    recurrence: null,
    reminders: [],
    series_id: null,
    occurrence: 1,
    version: 1,
    created_at: now,
    updated_at: now,
    completed_at: null,
    ...overrides,
  };
}
