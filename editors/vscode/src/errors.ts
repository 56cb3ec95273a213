/** Errors of server requests, reduced to the one line a user sees. */

/** Collapse whitespace and newlines: error toasts show one line. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** A failed server command: the server's one-line message and its `data.kind`. */
export class ServerError extends Error {
  constructor(
    message: string,
    readonly kind?: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(oneLine(message));
    this.name = 'ServerError';
  }
}

interface ResponseErrorLike {
  message?: unknown;
  code?: unknown;
  data?: unknown;
}

/** A ServerError from whatever a request rejected with (a JSON-RPC ResponseError or anything else). */
export function toServerError(error: unknown): ServerError {
  if (error instanceof ServerError) {
    return error;
  }
  if (typeof error === 'object' && error !== null) {
    const e = error as ResponseErrorLike;
    const data = typeof e.data === 'object' && e.data !== null ? (e.data as Record<string, unknown>) : undefined;
    const kind = typeof data?.kind === 'string' ? data.kind : undefined;
    const message = typeof e.message === 'string' && e.message ? e.message : JSON.stringify(error);
    return new ServerError(message, kind, data);
  }
  return new ServerError(String(error));
}
