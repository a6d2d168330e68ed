import { useEffect, useId, useRef, type ReactNode } from 'react';
import { createPortal } from 'react-dom';

/** How many dialogs are open: the page behind is hidden from assistive tools while any is. */
let open = 0;

function hideBackground(hidden: boolean): void {
  const root = document.getElementById('root');
  if (!root) return;
  if (hidden) root.setAttribute('aria-hidden', 'true');
  else root.removeAttribute('aria-hidden');
  root.inert = hidden;
}

/**
 * A modal dialog on the native <dialog> element: role=dialog, focus moved in and trapped, Escape
 * closes, focus goes back where it was. Its accessible name is its title. It is rendered beside
 * the page, which is hidden (aria-hidden, inert) while it is open, so "Restore" names only the
 * dialog's button, not every row's.
 */
export function Dialog({ title, onClose, children, wide }: { title: string; onClose: () => void; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement as HTMLElement | null;
    if (open++ === 0) hideBackground(true);
    if (!dialog.open) dialog.showModal();
    return () => {
      dialog.close();
      if (--open === 0) hideBackground(false);
      opener?.focus?.();
    };
  }, []);
  return createPortal(
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      className={wide ? 'dialog wide' : 'dialog'}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <header className="dialog-header">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="icon" aria-label="Dismiss" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="dialog-body">{children}</div>
    </dialog>,
    document.body,
  );
}
