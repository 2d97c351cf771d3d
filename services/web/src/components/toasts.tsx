import type { Toast } from '../context.js';

/**
 * Two live regions that exist from the first render (a region added together with its text is
 * often not announced): polite for news and reminders, assertive for errors.
 */
export function Toasts({ toasts, dismiss }: { toasts: Toast[]; dismiss: (id: number) => void }) {
  const item = (t: Toast) => (
    <div key={t.id} class={`toast toast-${t.kind}`} data-kind={t.kind}>
      <div>
        {t.title && <p class="toast-title">{t.title}</p>}
        <p>{t.message}</p>
      </div>
      <button
        type="button"
        class="toast-close"
        onClick={() => dismiss(t.id)}
        aria-label="Dismiss notification"
      >
        ×
      </button>
    </div>
  );
  return (
    <div class="toasts">
      <div role="status" aria-live="polite" aria-label="Messages">
        {toasts.filter((t) => t.kind !== 'error').map(item)}
      </div>
      <div role="alert" aria-live="assertive" aria-label="Errors">
        {toasts.filter((t) => t.kind === 'error').map(item)}
      </div>
    </div>
  );
}
