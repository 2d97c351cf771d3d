import type { ComponentChildren } from 'preact';

/** A labelled control: the label names the control by id (`for`), the hint is `<id>-hint`. */
export function Field({
  id,
  label,
  hint,
  class: extra,
  children,
}: {
  id: string;
  label: string;
  hint?: ComponentChildren;
  class?: string;
  children: ComponentChildren;
}) {
  return (
    <div class={extra ? `field ${extra}` : 'field'}>
      <label for={id}>{label}</label>
      {children}
      {hint && (
        <p id={`${id}-hint`} class="hint">
          {hint}
        </p>
      )}
    </div>
  );
}
