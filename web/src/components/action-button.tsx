import { useId, type ButtonHTMLAttributes } from 'react';
import { deniedReason, type Action } from '../permissions';
import { useSession } from '../session';

/**
 * A button for an action the role may not take is shown disabled, with the reason as its
 * description (and tooltip), instead of a button that answers 403.
 */
export function ActionButton({ action, disabled, children, ...rest }: ButtonHTMLAttributes<HTMLButtonElement> & { action: Action }) {
  const { role } = useSession();
  const reason = deniedReason(role, action);
  const id = useId();
  return (
    <>
      <button type="button" {...rest} disabled={disabled || reason !== null} title={reason ?? rest.title} aria-describedby={reason ? id : rest['aria-describedby']}>
        {children}
      </button>
      {reason ? (
        <span id={id} className="visually-hidden">
          {reason}
        </span>
      ) : null}
    </>
  );
}
