import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';

/** The screen's one h1 (focused after navigation, see app.tsx) and the document title. */
export function PageHeading({ children, title }: { children: ComponentChildren; title?: string }) {
  const text = title ?? (typeof children === 'string' ? children : '');
  useEffect(() => {
    document.title = text ? `${text} · taskstream` : 'taskstream';
  }, [text]);
  return (
    <h1 id="page-title" tabIndex={-1}>
      {children}
    </h1>
  );
}

/** What a screen shows when its service is not deployed or answered with an error. */
export function Unavailable({ what, error }: { what: string; error?: string | null }) {
  return (
    <div class="unavailable" role="status">
      <p>
        <strong>{what} is not available.</strong>
      </p>
      <p class="muted">
        {error ? `The server said: ${error}` : 'The service behind it is not running here.'}
      </p>
    </div>
  );
}
