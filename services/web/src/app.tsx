import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ConnectionStatus } from './components/connection.js';
import { Toasts } from './components/toasts.js';
import { AppContext, type AppContextValue, type Inbox, type Toast, type ToastKind } from './context.js';
import { createApi, errorMessage, isUnavailable } from './lib/api.js';
import { LiveConnection, type LiveState, type SyncedEvent } from './lib/live.js';
import { clearSession, loadSession, type Session, saveSession, TOKEN_KEY, withUser } from './lib/session.js';
import { taskActions } from './lib/task-actions.js';
import { TaskStore } from './lib/tasks.js';
import { navigate, useRoute } from './routes.js';
import { AuditScreen } from './screens/audit.js';
import { InboxScreen } from './screens/inbox.js';
import { AuthScreen } from './screens/login.js';
import { MailboxScreen } from './screens/mailbox.js';
import { MonitorScreen } from './screens/monitor.js';
import { PasswordScreen } from './screens/password.js';
import { PaymentsScreen } from './screens/payments.js';
import { SettingsScreen } from './screens/settings.js';
import { TaskFormScreen } from './screens/task-form.js';
import { TasksScreen } from './screens/tasks.js';
import { TopicsScreen } from './screens/topics.js';
import { WalletsScreen } from './screens/wallets.js';
import type { AppNotification, NotificationPage, User } from './types.js';

export function App() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [notice, setNotice] = useState<string | null>(null);
  const path = useRoute();
  const publicApi = useMemo(() => createApi({ token: () => null }), []);

  const signOut = useCallback((why?: string) => {
    clearSession();
    setNotice(why ?? null);
    setSession(null);
    navigate('/login');
  }, []);

  // Signing out (or in as someone else) in another tab applies here too.
  useEffect(() => {
    const onStorage = (event: StorageEvent) => {
      if (event.key !== TOKEN_KEY) return;
      const next = loadSession();
      if (!next) signOut();
      else setSession((current) => (current?.token === next.token ? current : next));
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, []);

  if (!session) {
    return (
      <AuthScreen
        api={publicApi}
        mode={path === '/register' ? 'register' : 'login'}
        notice={notice}
        onSignedIn={(token) => {
          setNotice(null);
          setSession(saveSession(token));
          if (path === '/login' || path === '/register') navigate('/tasks');
        }}
      />
    );
  }
  return (
    <SignedIn
      key={session.userId}
      session={session}
      path={path}
      onSignOut={signOut}
      onUser={(user) => setSession((s) => (s ? withUser(s, user) : s))}
    />
  );
}

interface SignedInProps {
  session: Session;
  path: string;
  onSignOut: (why?: string) => void;
  onUser: (user: User) => void;
}

const NOTIFICATION_CREATED = 'com.taskstream.notification.created';

function SignedIn({ session, path, onSignOut, onUser }: SignedInProps) {
  const sessionRef = useRef(session);
  sessionRef.current = session;
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [live, setLive] = useState<{ state: LiveState; detail?: string }>({ state: 'connecting' });
  const [inbox, setInbox] = useState<Inbox>({
    available: null,
    items: [],
    unread: 0,
    nextCursor: null,
    error: null,
  });
  const nextToast = useRef(1);

  const dismiss = useCallback((id: number) => setToasts((list) => list.filter((t) => t.id !== id)), []);
  const toast = useCallback((message: string, kind: ToastKind = 'info', title?: string) => {
    const id = nextToast.current++;
    setToasts((list) => [...list.slice(-4), { id, kind, message, title }]);
    setTimeout(() => dismiss(id), kind === 'error' ? 12_000 : kind === 'reminder' ? 20_000 : 6_000);
  }, []);

  const api = useMemo(
    () =>
      createApi({
        token: () => sessionRef.current.token,
        onUnauthorized: () => onSignOut('Your session has ended. Please log in again.'),
      }),
    [],
  );
  const store = useMemo(() => new TaskStore(), []);
  const actions = useMemo(() => taskActions(api, store, (message, kind) => toast(message, kind)), []);

  const inboxRef = useRef(inbox);
  inboxRef.current = inbox;
  /** Notifications already shown or listed: a replayed event raises no second toast. */
  const seenNotifications = useRef(new Set<string>());

  const loadInbox = useCallback(async (more = false) => {
    try {
      const page = await api.request<NotificationPage>('GET', '/api/notifications', {
        query: { limit: 30, cursor: more ? (inboxRef.current.nextCursor ?? undefined) : undefined },
      });
      for (const n of page.items) seenNotifications.current.add(n.id);
      setInbox((current) => {
        const items = more
          ? [...current.items, ...page.items.filter((n) => !current.items.some((c) => c.id === n.id))]
          : page.items;
        return { available: true, items, unread: page.unread, nextCursor: page.next_cursor, error: null };
      });
    } catch (err) {
      setInbox((current) => ({
        ...current,
        available: isUnavailable(err) ? false : (current.available ?? true),
        error: errorMessage(err),
      }));
    }
  }, []);

  const markRead = useCallback(async (id: string) => {
    const target = inboxRef.current.items.find((n) => n.id === id);
    if (!target || target.read) return;
    const flip = (read: boolean) =>
      setInbox((current) => ({
        ...current,
        items: current.items.map((n) => (n.id === id ? { ...n, read } : n)),
        unread: Math.max(0, current.unread + (read ? -1 : 1)),
      }));
    flip(true);
    try {
      await api.request('POST', `/api/notifications/${encodeURIComponent(id)}/read`);
    } catch (err) {
      flip(false);
      toast(`Could not mark the notification read: ${errorMessage(err)}`, 'error');
    }
  }, []);

  const onEvent = useCallback((event: SyncedEvent) => {
    if (store.applyEvent(event)) return;
    if (event.type !== NOTIFICATION_CREATED) return;
    const payload = event.data.payload as {
      notification_id?: string;
      title?: string;
      body?: string;
      created_at?: string;
    };
    if (!payload.notification_id) return;
    const notification: AppNotification = {
      id: payload.notification_id,
      task_id: event.data.task_id ?? null,
      title: payload.title ?? 'Reminder',
      body: payload.body ?? '',
      read: false,
      created_at: payload.created_at ?? event.time,
    };
    if (seenNotifications.current.has(notification.id)) return;
    seenNotifications.current.add(notification.id);
    setInbox((current) =>
      current.items.some((n) => n.id === notification.id)
        ? current
        : {
            ...current,
            available: true,
            items: [notification, ...current.items],
            unread: current.unread + 1,
          },
    );
    toast(notification.body || notification.title, 'reminder', `Reminder: ${notification.title}`);
  }, []);

  useEffect(() => {
    api.request<{ user: User }>('GET', '/api/auth/me').then(
      (res) => onUser(res.user),
      () => undefined,
    );
    void loadInbox();
    const connection = new LiveConnection({
      api,
      baseUrl: window.location.origin,
      token: () => sessionRef.current.token,
      onEvent,
      onResync: () => {
        store.setQuery(store.filters, store.sort);
        void actions.load();
        void loadInbox();
      },
      onState: (state, detail) => setLive({ state, detail }),
      onSessionEnded: () => onSignOut('Your session has ended. Please log in again.'),
    });
    void connection.start();
    return () => connection.stop();
  }, []);

  // After navigation, focus goes to the new screen's heading (screen readers hear where they are).
  const mainRef = useRef<HTMLElement>(null);
  const firstPath = useRef(true);
  useEffect(() => {
    if (firstPath.current) {
      firstPath.current = false;
      return;
    }
    requestAnimationFrame(() => mainRef.current?.querySelector<HTMLElement>('h1')?.focus());
  }, [path]);

  useEffect(() => {
    if (path === '/login' || path === '/register') navigate('/tasks');
  }, [path]);

  const context: AppContextValue = {
    session,
    api,
    store,
    actions,
    live,
    inbox,
    loadInbox,
    markRead,
    toast,
    signOut: () => onSignOut(),
  };
  const admin = session.role === 'admin';

  return (
    <AppContext.Provider value={context}>
      <button type="button" class="skip-link" onClick={() => mainRef.current?.focus()}>
        Skip to content
      </button>
      <header class="app-header">
        <div class="header-row">
          <a class="brand" href="#/tasks">
            taskstream
          </a>
          <ConnectionStatus state={live.state} detail={live.detail} />
          <div class="user">
            <span class="user-name">{session.name ?? session.email}</span>
            <button type="button" class="link-button" onClick={() => onSignOut()}>
              Sign out
            </button>
          </div>
        </div>
        <nav aria-label="Main" class="main-nav">
          <NavLink path={path} href="/tasks">
            Tasks
          </NavLink>
          <NavLink
            path={path}
            href="/inbox"
            label={inbox.unread > 0 ? `Inbox, ${inbox.unread} unread` : 'Inbox'}
          >
            Inbox
            {inbox.unread > 0 && (
              <span class="count" data-unread={inbox.unread} aria-hidden="true">
                {inbox.unread}
              </span>
            )}
          </NavLink>
          <NavLink path={path} href="/wallets">
            Wallets
          </NavLink>
          <NavLink path={path} href="/mailbox">
            Mailbox
          </NavLink>
          <NavLink path={path} href="/settings">
            Settings
          </NavLink>
          {admin && (
            <>
              <NavLink path={path} href="/admin/audit">
                Audit log
              </NavLink>
              <NavLink path={path} href="/admin/monitor">
                Monitor
              </NavLink>
              <NavLink path={path} href="/admin/topics">
                Topics
              </NavLink>
              <NavLink path={path} href="/admin/payments">
                Payments
              </NavLink>
            </>
          )}
        </nav>
      </header>
      <main id="main-content" ref={mainRef} tabIndex={-1}>
        <Screen path={path} admin={admin} />
      </main>
      <Toasts toasts={toasts} dismiss={dismiss} />
    </AppContext.Provider>
  );
}

function NavLink({
  path,
  href,
  label,
  children,
}: {
  path: string;
  href: string;
  label?: string;
  children: ComponentChildren;
}) {
  const current = path === href || path.startsWith(`${href}/`);
  return (
    <a href={`#${href}`} aria-current={current ? 'page' : undefined} aria-label={label}>
      {children}
    </a>
  );
}

function Screen({ path, admin }: { path: string; admin: boolean }) {
  if (path === '/tasks' || path === '/' || path === '/login' || path === '/register') return <TasksScreen />;
  if (path === '/tasks/new') return <TaskFormScreen />;
  const edit = /^\/tasks\/([^/]+)$/.exec(path);
  if (edit) return <TaskFormScreen taskId={decodeURIComponent(edit[1]!)} />;
  if (path === '/inbox') return <InboxScreen />;
  if (path === '/mailbox') return <MailboxScreen />;
  if (path === '/wallets') return <WalletsScreen />;
  if (path === '/settings') return <SettingsScreen />;
  if (path === '/settings/password') return <PasswordScreen />;
  if (path.startsWith('/admin/')) {
    if (!admin) return <Message title="Admins only" text="This page is for administrators." />;
    if (path === '/admin/audit') return <AuditScreen />;
    if (path === '/admin/monitor') return <MonitorScreen />;
    if (path === '/admin/topics') return <TopicsScreen />;
    if (path === '/admin/payments') return <PaymentsScreen />;
  }
  return <Message title="Page not found" text="There is nothing at this address." />;
}

function Message({ title, text }: { title: string; text: string }) {
  useEffect(() => {
    document.title = `${title} · taskstream`;
  }, [title]);
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>
        {title}
      </h1>
      <p>{text}</p>
      <a href="#/tasks">Go to your tasks</a>
    </section>
  );
}
