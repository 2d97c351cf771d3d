import type { Channel } from '@taskstream/contracts';

export const REMINDER_JOB_PREFIX = 'reminder-';
export const DELIVERY_JOB_PREFIX = 'delivery-';
export const reminderJobName = (reminderId: string) => `${REMINDER_JOB_PREFIX}${reminderId}`;

/** What a job carries: which firing (and, for a retry or a deferral, which channel). */
export interface FiringRef {
  reminder_id: string;
  fire_at: string;
  task_id?: string;
  user_id?: string;
  channel?: Channel;
}
