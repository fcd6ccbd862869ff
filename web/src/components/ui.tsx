import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { ApiError } from '../api.js';

/** A button that shows its action's progress: disabled, with a "…ing" text, while busy. */
export function Button(props: {
  children: ReactNode;
  onClick?: () => void;
  busy?: boolean;
  busyText?: string;
  disabled?: boolean;
  type?: 'button' | 'submit';
  kind?: 'primary' | 'danger' | 'plain';
  label?: string;
}) {
  const { busy = false, kind = 'plain' } = props;
  return (
    <button
      type={props.type ?? 'button'}
      className={`btn btn-${kind}`}
      onClick={props.onClick}
      disabled={busy || props.disabled}
      aria-busy={busy}
      aria-label={busy ? undefined : props.label}
    >
      {busy ? (
        <>
          <span className="spinner" aria-hidden="true" />
          {props.busyText ?? 'Working…'}
        </>
      ) : (
        props.children
      )}
    </button>
  );
}

/** An error from the API (or anything thrown) in words, with the server's detail and code small. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiError) {
    const showDetail = error.detail && error.detail.toLowerCase() !== error.message.toLowerCase();
    return (
      <div className="error" role="alert">
        <p>{error.message}</p>
        {showDetail ? <p className="error-detail">{error.detail}</p> : null}
        <p className="error-code">
          <small>
            {error.code}
            {error.status ? ` · HTTP ${error.status}` : ''}
          </small>
        </p>
      </div>
    );
  }
  return (
    <div className="error" role="alert">
      <p>{error instanceof Error ? error.message : String(error)}</p>
    </div>
  );
}

export function Badge({
  tone,
  children,
}: {
  tone: 'ok' | 'warn' | 'bad' | 'info' | 'muted';
  children: ReactNode;
}) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

/** A modal dialog: role=dialog, named by its title, Escape closes it. */
export function Dialog(props: { title: string; onClose: () => void; children: ReactNode }) {
  const titleId = useId();
  const ref = useRef<HTMLDivElement>(null);
  const { onClose } = props;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    document.addEventListener('keydown', onKey);
    ref.current?.focus();
    return () => document.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div className="overlay">
      <div
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        ref={ref}
        tabIndex={-1}
      >
        <div className="dialog-head">
          <h2 id={titleId}>{props.title}</h2>
          <button type="button" className="btn btn-plain" onClick={props.onClose}>
            Close
          </button>
        </div>
        {props.children}
      </div>
    </div>
  );
}

/** A secret shown once (password, invitation link): selectable text and a copy button. */
export function OneTime({ label, value, note }: { label: string; value: string; note?: string }) {
  return (
    <div className="onetime" role="status">
      <p>
        <strong>{label}</strong> {note ?? 'It is shown only this once: copy it now.'}
      </p>
      <code className="secret">{value}</code>
      <CopyButton value={value} />
    </div>
  );
}

export function CopyButton({ value }: { value: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = () => {
    if (!navigator.clipboard) return setState('failed');
    navigator.clipboard.writeText(value).then(
      () => setState('copied'),
      () => setState('failed'),
    );
  };
  return (
    <button type="button" className="btn btn-plain" onClick={copy}>
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed: select the text' : 'Copy'}
    </button>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status">
      <span className="spinner" aria-hidden="true" />
      Loading {what}…
    </p>
  );
}

/** A labelled text field. */
export function Field(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  type?: string;
  autoComplete?: string;
  required?: boolean;
  placeholder?: string;
  inputMode?: 'numeric' | 'email' | 'text';
  hint?: string;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        type={props.type ?? 'text'}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
        autoComplete={props.autoComplete}
        required={props.required}
        placeholder={props.placeholder}
        inputMode={props.inputMode}
      />
      {props.hint ? <small className="hint">{props.hint}</small> : null}
    </div>
  );
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
