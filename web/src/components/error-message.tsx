import { ApiError } from '../api/client';

/** Every failure is shown with its code and message, as text. */
export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const code = error instanceof ApiError ? error.code : 'ERROR';
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div role="alert" className="error">
      {title ? <strong>{title}: </strong> : null}
      <code className="error-code">{code}</code> <span className="error-text">{message}</span>
    </div>
  );
}
