import { type Task, Topics } from '@taskstream/contracts';
import type { Envelope } from '@taskstream/platform';
import { onTopic, sampleTask } from '@taskstream/platform/test-support';

export { type TaskAction, taskEvent } from '@taskstream/platform/test-support';

export const task = (userId: string, over: Partial<Task> = {}): Task => sampleTask(userId, over);

export const onTaskEvents = (event: Envelope) => onTopic(Topics.taskEvents, event);
