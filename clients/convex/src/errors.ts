/**
 * The one error type of the client. Its message is built from the function's problem details
 * (status, title, detail, code), which name fields and never values, so no credential can end up in
 * an error message, a log line or an error tracker.
 */

import { API_ERROR_CODES } from "./contract.generated.js";

/** An error code of the API contract. */
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/**
 * A code of the API, or one of the client's own: `network_error` (no HTTP answer after every
 * attempt; `status` is 0), `unexpected_response` (an answer that is not the API's JSON, e.g. an
 * API Gateway error page) and `redirect_refused` (a 3xx answer, never followed; `status` is its
 * status, or 0 where the runtime hides it). A code this client does not know yet (from a newer
 * stack) is kept as its string.
 */
export type TenantKeysErrorCode =
  | ApiErrorCode
  | "network_error"
  | "unexpected_response"
  | "redirect_refused"
  | (string & Record<never, never>);

/** A failed call: the API's problem details, or why no usable answer came. */
export class TenantKeysError extends Error {
  /** `TenantKeysError`; a subclass may name itself as the error its callers expect. */
  override readonly name: string = "TenantKeysError";
  /** The HTTP status, or 0 when no answer came. */
  readonly status: number;
  /** A stable, machine-readable code to branch on. */
  readonly code: TenantKeysErrorCode;
  /** A short, human-readable summary of the code. */
  readonly title: string;
  /** What was wrong with this request; names fields, never values. */
  readonly detail: string;
  /**
   * For `not_found` of disconnected credentials: when their secret is deleted for good (RFC 3339);
   * until then a reconnect can restore them.
   */
  readonly deletionDate: string | undefined;

  constructor(
    problem: {
      status: number;
      code: TenantKeysErrorCode;
      title: string;
      detail: string;
      deletionDate?: string | undefined;
    },
    options?: { cause?: unknown },
  ) {
    super(`${problem.status} ${problem.title}: ${problem.detail} (${problem.code})`, options);
    this.status = problem.status;
    this.code = problem.code;
    this.title = problem.title;
    this.detail = problem.detail;
    this.deletionDate = problem.deletionDate;
  }
}

/** Whether a failure is worth another attempt with the same `webhook-id`. */
export function isRetryable(error: TenantKeysError): boolean {
  return (
    error.code === "network_error" ||
    error.status === 429 ||
    error.status === 502 ||
    error.status === 503 ||
    error.status === 504
  );
}

/**
 * The error for a non-2xx answer. A body in the API's problem format gives its fields; anything
 * else (an API Gateway or proxy error) becomes `unexpected_response`, and its text is not kept.
 */
export function errorFromAnswer(status: number, body: unknown): TenantKeysError {
  if (isProblem(body)) {
    return new TenantKeysError({
      status,
      code: body.code,
      title: body.title,
      detail: body.detail,
      deletionDate: typeof body.deletionDate === "string" ? body.deletionDate : undefined,
    });
  }
  return new TenantKeysError({
    status,
    code: "unexpected_response",
    title: "Unexpected response",
    detail: `HTTP ${status} without the API's problem details`,
  });
}

function isProblem(
  body: unknown,
): body is { code: string; title: string; detail: string; deletionDate?: unknown } {
  if (typeof body !== "object" || body === null) return false;
  const { code, title, detail } = body as Record<string, unknown>;
  return (
    typeof code === "string" &&
    /^[a-z][a-z0-9_]{0,63}$/.test(code) &&
    typeof title === "string" &&
    typeof detail === "string"
  );
}
