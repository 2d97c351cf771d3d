import { PageHeading, Unavailable } from '../components/page.js';
import { useApp } from '../context.js';
import { useResource } from '../hooks.js';
import { formatInZone } from '../lib/time.js';

interface Mail {
  id: string;
  to: string;
  from: string;
  subject: string;
  text: string | null;
  html: string | null;
  created_at: string;
}

interface MailboxPage {
  mode: 'smtp' | 'mailbox';
  items: Mail[];
  next_cursor: string | null;
}

/** Reminder email of the embedded start, which keeps mail in a local mailbox instead of sending it. */
export function MailboxScreen() {
  const { api } = useApp();
  const mailbox = useResource(
    (signal) => api.request<MailboxPage>('GET', '/api/mailbox', { signal, query: { limit: 50 } }),
    [],
  );
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <PageHeading>Mailbox</PageHeading>
        <button type="button" class="secondary" onClick={() => mailbox.reload()}>
          Refresh
        </button>
      </div>
      {mailbox.unavailable && <Unavailable what="The local mailbox" />}
      {mailbox.error && !mailbox.unavailable && (
        <p class="error" role="alert">
          {mailbox.error}
        </p>
      )}
      {mailbox.data?.mode === 'smtp' && (
        <p class="notice">
          Email is sent to the configured SMTP server; the local mailbox shows nothing sent that way.
        </p>
      )}
      {mailbox.data && (
        <>
          <p class="muted">The embedded start keeps reminder email here instead of sending it.</p>
          {mailbox.data.items.length === 0 && <p class="empty">No mail yet.</p>}
          <ul class="mail-list" aria-label="Messages">
            {mailbox.data.items.map((mail) => (
              <li key={mail.id}>
                <details>
                  <summary>
                    <span class="mail-subject">{mail.subject}</span>{' '}
                    <span class="muted">
                      to {mail.to} ·{' '}
                      <time dateTime={mail.created_at}>{formatInZone(mail.created_at, zone)}</time>
                    </span>
                  </summary>
                  <div class="mail-body">
                    <p class="muted">From: {mail.from}</p>
                    {mail.html ? (
                      <iframe
                        class="mail-html"
                        sandbox=""
                        srcdoc={mail.html}
                        title={`Message: ${mail.subject}`}
                      />
                    ) : (
                      <pre>{mail.text}</pre>
                    )}
                  </div>
                </details>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
