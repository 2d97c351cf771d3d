import { LIVE_STATE_TEXT, type LiveState } from '../lib/live.js';

/** Where live updates stand; announced politely when it changes. */
export function ConnectionStatus({ state, detail }: { state: LiveState; detail?: string }) {
  return (
    <p class="connection" role="status" aria-live="polite" data-state={state} title={detail}>
      <span class="dot" aria-hidden="true" />
      <span class="sr-only">Live updates: </span>
      {LIVE_STATE_TEXT[state]}
    </p>
  );
}
