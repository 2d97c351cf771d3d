import { useEffect } from 'preact/hooks';
import { PageHeading, Unavailable } from '../components/page.js';
import { useApp } from '../context.js';
import { relativeTime } from '../lib/time.js';

export function InboxScreen() {
  const { inbox, loadInbox, markRead, api, toast } = useApp();

  useEffect(() => {
    void loadInbox();
  }, []);

  async function markAll() {
    const unread = inbox.items.filter((n) => !n.read);
    try {
      await api.request('POST', '/api/notifications/read-all');
      await loadInbox();
    } catch {
      // An older notification service without read-all: one by one.
      for (const n of unread) await markRead(n.id);
    }
    toast('All notifications marked read.');
  }

  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <PageHeading>Inbox</PageHeading>
        {inbox.available && inbox.unread > 0 && (
          <button type="button" class="secondary" onClick={markAll}>
            Mark all read
          </button>
        )}
      </div>
      {inbox.available === false && <Unavailable what="The notification inbox" error={inbox.error} />}
      {inbox.available && (
        <>
          <p class="muted" id="unread-summary">
            {inbox.unread === 0 ? 'No unread notifications.' : `${inbox.unread} unread.`}
          </p>
          {inbox.error && (
            <p class="error" role="alert">
              {inbox.error}
            </p>
          )}
          <ul class="notifications" aria-label="Notifications">
            {inbox.items.map((n) => (
              <li
                key={n.id}
                class={`notification${n.read ? '' : ' unread'}`}
                data-notification-id={n.id}
                data-task-id={n.task_id ?? ''}
              >
                <div>
                  <p class="notification-title">
                    {!n.read && <span class="sr-only">Unread: </span>}
                    {n.title}
                  </p>
                  {n.body && <p>{n.body}</p>}
                  <p class="muted">
                    <time dateTime={n.created_at}>{relativeTime(n.created_at)}</time>
                    {n.task_id && (
                      <>
                        {' · '}
                        <a href={`#/tasks/${n.task_id}`}>Open task</a>
                      </>
                    )}
                  </p>
                </div>
                {!n.read && (
                  <button
                    type="button"
                    class="small"
                    onClick={() => markRead(n.id)}
                    aria-label={`Mark “${n.title}” read`}
                  >
                    Mark read
                  </button>
                )}
              </li>
            ))}
          </ul>
          {inbox.items.length === 0 && (
            <p class="empty">Reminders you choose to get in the app show up here.</p>
          )}
          {inbox.nextCursor && (
            <button type="button" class="secondary" onClick={() => loadInbox(true)}>
              Load older
            </button>
          )}
        </>
      )}
      {inbox.available === null && <p class="muted">Loading…</p>}
    </section>
  );
}
