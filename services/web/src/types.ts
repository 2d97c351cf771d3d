/**
 * Shapes of the API from the zod schemas in @taskstream/contracts, as types only: nothing of zod
 * or the contracts package reaches the bundle.
 */
import type {
  AdminStats as AdminStatsSchema,
  AuditLogPage as AuditLogPageSchema,
  AuditLog as AuditLogSchema,
  AuditVerifyResult as AuditVerifyResultSchema,
  DeadLetterPage as DeadLetterPageSchema,
  DeadLetter as DeadLetterSchema,
  NotificationPage as NotificationPageSchema,
  Notification as NotificationSchema,
  Preferences as PreferencesSchema,
  Priority as PrioritySchema,
  RecurrencePreview as RecurrencePreviewSchema,
  SyncEvents as SyncEventsSchema,
  TaskStatus as TaskStatusSchema,
  TopicList as TopicListSchema,
  TopicMessagePage as TopicMessagePageSchema,
  TopicMessage as TopicMessageSchema,
  TransactionPage as TransactionPageSchema,
  Transaction as TransactionSchema,
  TransactionStatus as TransactionStatusSchema,
  WalletPage as WalletPageSchema,
  Wallet as WalletSchema,
} from '@taskstream/contracts';
import type { z } from 'zod';

export type {
  AuthResponse,
  Channel,
  CreateTaskBody,
  ErrorBody,
  Recurrence,
  RecurrencePreviewBody,
  Reminder,
  Task,
  TaskPage,
  TaskSort,
  UpdateTaskBody,
  User,
} from '@taskstream/contracts';

export type AdminStats = z.infer<typeof AdminStatsSchema>;
export type Preferences = z.infer<typeof PreferencesSchema>;
export type AuditLog = z.infer<typeof AuditLogSchema>;
export type AuditLogPage = z.infer<typeof AuditLogPageSchema>;
export type AuditVerifyResult = z.infer<typeof AuditVerifyResultSchema>;
export type DeadLetter = z.infer<typeof DeadLetterSchema>;
export type DeadLetterPage = z.infer<typeof DeadLetterPageSchema>;
export type AppNotification = z.infer<typeof NotificationSchema>;
export type NotificationPage = z.infer<typeof NotificationPageSchema>;
export type Priority = z.infer<typeof PrioritySchema>;
export type RecurrencePreview = z.infer<typeof RecurrencePreviewSchema>;
export type SyncEvents = z.infer<typeof SyncEventsSchema>;
export type TaskStatus = z.infer<typeof TaskStatusSchema>;
export type TopicList = z.infer<typeof TopicListSchema>;
export type TopicMessage = z.infer<typeof TopicMessageSchema>;
export type TopicMessagePage = z.infer<typeof TopicMessagePageSchema>;
export type Wallet = z.infer<typeof WalletSchema>;
export type WalletPage = z.infer<typeof WalletPageSchema>;
export type Transaction = z.infer<typeof TransactionSchema>;
export type TransactionPage = z.infer<typeof TransactionPageSchema>;
export type TransactionStatus = z.infer<typeof TransactionStatusSchema>;
