import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './lib/api.js';
import type { LiveState } from './lib/live.js';
import type { Session } from './lib/session.js';
import type { TaskActions } from './lib/task-actions.js';
import type { TaskStore } from './lib/tasks.js';
import type { AppNotification } from './types.js';

export type ToastKind = 'info' | 'error' | 'reminder';

export interface Toast {
  id: number;
  kind: ToastKind;
  title?: string;
  message: string;
}

export interface Inbox {
  /** null while loading; false when the notification service is not there. */
  available: boolean | null;
  items: AppNotification[];
  unread: number;
  nextCursor: string | null;
  error: string | null;
}

export interface AppContextValue {
  session: Session;
  api: Api;
  store: TaskStore;
  actions: TaskActions;
  live: { state: LiveState; detail?: string };
  inbox: Inbox;
  loadInbox(more?: boolean): Promise<void>;
  markRead(id: string): Promise<void>;
  toast(message: string, kind?: ToastKind, title?: string): void;
  signOut(): void;
}

export const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new Error('useApp outside the signed-in app');
  return value;
}
