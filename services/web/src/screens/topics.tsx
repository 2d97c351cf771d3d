import { useState } from 'preact/hooks';
import { Field } from '../components/field.js';
import { PageHeading, Unavailable } from '../components/page.js';
import { useApp } from '../context.js';
import { useResource } from '../hooks.js';
import { formatInZone } from '../lib/time.js';
import type { TopicList, TopicMessage, TopicMessagePage } from '../types.js';

/** Where a page starts: a position, or a time (the first message at or after it). */
interface Start {
  partition: number;
  from?: number;
  since?: string;
  key?: string;
}

const PAGE_SIZE = 25;

/**
 * The topic browser (ADR 0019): pick a topic and a partition, page through its messages from a
 * position or a time, optionally of one key, and open a message to see its headers and CloudEvent.
 * The same screen over the embedded event log and over Kafka.
 */
export function TopicsScreen() {
  const { api } = useApp();
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const [topic, setTopic] = useState('');
  const [draft, setDraft] = useState({ partition: '0', from: '', since: '', key: '' });
  /** The starts of the pages read so far (paging back), the current one last. */
  const [starts, setStarts] = useState<Start[]>([]);
  const start = starts[starts.length - 1];

  const topics = useResource((signal) => api.request<TopicList>('GET', '/api/admin/topics', { signal }), []);
  const page = useResource(
    async (signal) =>
      topic && start
        ? api.request<TopicMessagePage>('GET', `/api/admin/topics/${encodeURIComponent(topic)}/messages`, {
            signal,
            query: { ...start, limit: PAGE_SIZE },
          })
        : undefined,
    [topic, start],
  );
  const partitions = topics.data?.topics.find((t) => t.topic === topic)?.partitions ?? [];

  function pick(name: string) {
    setTopic(name);
    setDraft({ partition: '0', from: '', since: '', key: '' });
    setStarts(name ? [{ partition: 0 }] : []);
  }

  function apply(event: Event) {
    event.preventDefault();
    const key = draft.key.trim() || undefined;
    const partition = Number(draft.partition) || 0;
    const next: Start = draft.since
      ? { partition, since: new Date(draft.since).toISOString(), key }
      : { partition, from: draft.from === '' ? undefined : Number(draft.from), key };
    setStarts([next]);
  }

  const nextStart = page.data?.next;
  return (
    <section aria-labelledby="page-title">
      <PageHeading>Topics</PageHeading>
      {topics.unavailable && !topics.data ? (
        <Unavailable what="The topic browser" error={topics.error} />
      ) : (
        <>
          <form class="filters" onSubmit={apply} aria-label="Browse a topic">
            <Field id="topic-name" label="Topic">
              <select id="topic-name" value={topic} onChange={(e) => pick(e.currentTarget.value)}>
                <option value="">Choose a topic</option>
                {topics.data?.topics.map((t) => (
                  <option key={t.topic} value={t.topic}>
                    {t.topic}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="topic-partition" label="Partition">
              <select
                id="topic-partition"
                value={draft.partition}
                onChange={(e) => setDraft((d) => ({ ...d, partition: e.currentTarget.value }))}
              >
                {(partitions.length ? partitions : [{ partition: 0, start: 0, end: 0 }]).map((p) => (
                  <option key={p.partition} value={String(p.partition)}>
                    {p.partition} ({p.start}–{p.end})
                  </option>
                ))}
              </select>
            </Field>
            <Field id="topic-from" label="From position">
              <input
                id="topic-from"
                type="number"
                min={0}
                value={draft.from}
                onInput={(e) => setDraft((d) => ({ ...d, from: e.currentTarget.value, since: '' }))}
              />
            </Field>
            <Field id="topic-since" label="From time">
              <input
                id="topic-since"
                type="datetime-local"
                value={draft.since}
                onInput={(e) => setDraft((d) => ({ ...d, since: e.currentTarget.value, from: '' }))}
              />
            </Field>
            <Field id="topic-key" label="Key">
              <input
                id="topic-key"
                type="search"
                spellcheck={false}
                value={draft.key}
                onInput={(e) => setDraft((d) => ({ ...d, key: e.currentTarget.value }))}
              />
            </Field>
            <button type="submit" class="primary align-end" disabled={!topic}>
              Show messages
            </button>
          </form>

          {(page.error || topics.error) && (
            <p class="error" role="alert">
              {page.error ?? topics.error}
            </p>
          )}
          {!topic && <p class="muted">Choose a topic to see its messages.</p>}
          {topic && page.data && (
            <>
              <ol class="topic-messages" aria-busy={page.loading} aria-label={`Messages on ${topic}`}>
                {page.data.messages.map((m) => (
                  <MessageRow key={`${m.partition}:${m.position}`} message={m} zone={zone} />
                ))}
              </ol>
              {page.data.messages.length === 0 && (
                <p class="empty">
                  {nextStart === null
                    ? 'No messages here.'
                    : 'No matching messages in this stretch; go on to the next.'}
                </p>
              )}
              <nav class="pager" aria-label="Topic pages">
                <button
                  type="button"
                  class="secondary"
                  disabled={starts.length <= 1}
                  onClick={() => setStarts((s) => s.slice(0, -1))}
                >
                  Previous
                </button>
                <span class="muted">Page {starts.length}</span>
                <button
                  type="button"
                  class="secondary"
                  disabled={nextStart === null || nextStart === undefined}
                  onClick={() =>
                    start &&
                    nextStart != null &&
                    setStarts((s) => [...s, { partition: start.partition, key: start.key, from: nextStart }])
                  }
                >
                  Next
                </button>
              </nav>
            </>
          )}
        </>
      )}
    </section>
  );
}

/** One message: position, key and time at a glance; headers and the CloudEvent when opened. */
function MessageRow({ message, zone }: { message: TopicMessage; zone: string }) {
  const event = message.event as { type?: string; id?: string } | null;
  return (
    <li class="topic-message" data-position={message.position} data-key={message.key ?? ''}>
      <details>
        <summary>
          <code class="position">#{message.position}</code> <span class="key">{message.key ?? '—'}</span>{' '}
          <time dateTime={message.timestamp}>{formatInZone(message.timestamp, zone)}</time>{' '}
          <span class="type">{event?.type ?? ''}</span>
        </summary>
        <h2 class="sr-only">Message {message.position}</h2>
        <h3>Headers</h3>
        {Object.keys(message.headers).length === 0 ? (
          <p class="muted">No headers.</p>
        ) : (
          <dl class="headers">
            {Object.entries(message.headers).map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>
                  <code>{v}</code>
                </dd>
              </div>
            ))}
          </dl>
        )}
        <h3>CloudEvent</h3>
        <pre class="cloudevent">{JSON.stringify(message.event, null, 2)}</pre>
      </details>
    </li>
  );
}
