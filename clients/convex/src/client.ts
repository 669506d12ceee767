/**
 * `createTenantKeys`: the typed calls to connect-integration, fetch-key, update-key,
 * disconnect-integration, list-integrations and call-provider, each signed, sent, retried when that
 * is safe, and turned into a result or a `TenantKeysError`.
 */
import { RESERVED_HEADERS } from "./contract.generated.js";
import { TenantKeysError, errorFromAnswer, isRetryable } from "./errors.js";
import { PROVIDERS } from "./providers.js";
import type { Credentials, Provider, View, ViewedCredentials } from "./providers.js";
import { RequestSigner, newWebhookId } from "./signing.js";

/** How to reach and authenticate to a tenant-keys stack. */
export interface TenantKeysOptions {
  /**
   * The stack's base URL: the deployed `ApiBaseUrl` output, or `http://127.0.0.1:9000/lambda-url`
   * for `make dev`. The function name is appended (`<baseUrl>/fetch-key`).
   */
  baseUrl: string;
  /** The webhook signing secret: `whsec_<base64>`, or the raw key the SAM stack generates. */
  signingSecret: string;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof fetch;
  /**
   * Attempts per call, 1–10 (default 3). Only a network error, a timeout, 429, 502, 503 and 504
   * are retried, always with the same `webhook-id`, so a retried write never writes twice.
   */
  maxAttempts?: number;
  /**
   * The longest wait between two attempts, in ms (default 5000). An answer whose `Retry-After` is
   * longer (e.g. `too_many_writes`, which asks for an hour) is not retried: its error is thrown.
   */
  maxRetryDelayMs?: number;
  /** How long one attempt may take before it is abandoned (and retried), in ms (default 15000). */
  attemptTimeoutMs?: number;
}

/** Per-call options. */
export interface CallOptions {
  /**
   * The `webhook-id`: the idempotency key of the operation. Pass one derived from your own
   * request (e.g. a Convex action's arguments or a row id) so that a retried action does not write
   * twice; the same key with other credentials is refused (`idempotency_conflict`). 1–256 visible
   * ASCII characters. A fresh id is used when it is absent.
   */
  idempotencyKey?: string;
  /** Aborts the call, including waits between attempts. */
  signal?: AbortSignal;
}

/** The body of connect-integration: every field of the provider is required. */
export interface ConnectRequest<P extends Provider> {
  tenantId: string;
  provider: P;
  credentials: Credentials<P>;
  /**
   * Check the key with the provider before storing it: `credentials_rejected` (422) if the
   * provider refuses it, `provider_unavailable` (503) if it cannot say now; nothing is stored then.
   */
  verify?: boolean;
}

/** The body of update-key: the fields to change, merged into the current credentials. */
export interface UpdateRequest<P extends Provider> {
  tenantId: string;
  provider: P;
  credentials: Partial<Credentials<P>>;
  /** Write only if this is still the current version (compare-and-swap); else `version_conflict`. */
  expectedVersionId?: string;
  /** Check the merged key with the provider before storing it (see `ConnectRequest.verify`). */
  verify?: boolean;
}

/**
 * Which version fetch-key reads: `current` (the default), `previous` (the value before the last
 * write), or one exact version by id.
 */
export type VersionChoice =
  | { version?: "current" | "previous"; versionId?: never }
  | { versionId: string; version?: never };

/**
 * How old a value fetch-key may serve from its per-container cache: the public view may be cached
 * (up to the stack's TTL) and full and masked reads are fresh unless `maxAgeSeconds` says
 * otherwise; `refresh: true` is `maxAgeSeconds: 0`. Not both.
 */
export type Freshness =
  | { maxAgeSeconds?: number; refresh?: never }
  | { refresh?: boolean; maxAgeSeconds?: never };

/** The body of fetch-key. */
export type FetchRequest<P extends Provider, V extends View> = {
  tenantId: string;
  provider: P;
  /** `full` by default. */
  view?: V;
} & VersionChoice &
  Freshness;

/** The answer of connect-integration and update-key. */
export interface WriteResult<P extends Provider> {
  tenantId: string;
  provider: P;
  /** The version now current. */
  versionId: string;
  /** Whether the secret was created by this request (connect only). */
  created: boolean;
  /** Whether a version was written; `false` for an update whose values were already stored. */
  changed: boolean;
  /** Whether a disconnected integration was restored by this connect. */
  restored: boolean;
  /** Present (true) when the request asked to `verify` and the provider accepted the key. */
  verified?: boolean;
  /** The stored credentials, masked (`****` and at most the last 4 characters). */
  credentials: Credentials<P>;
}

/** The answer of fetch-key: the credentials in the view asked for. */
export interface FetchResult<P extends Provider, V extends View> {
  tenantId: string;
  provider: P;
  versionId: string;
  credentials: ViewedCredentials<P, V>;
}

/** The body of disconnect-integration for one provider. */
export interface DisconnectRequest<P extends Provider> {
  tenantId: string;
  provider: P;
  /** Delete at once with no recovery; only where the stack's `AllowPurge` is true, else `purge_disabled`. */
  purge?: boolean;
}

/** The body of disconnect-integration for every provider the tenant has (offboarding). */
export interface OffboardRequest {
  tenantId: string;
  allProviders: true;
  /** Delete at once with no recovery; only where the stack's `AllowPurge` is true, else `purge_disabled`. */
  purge?: boolean;
}

/** One integration taken out of reach. */
export interface Disconnected<P extends Provider = Provider> {
  provider: P;
  /** When Secrets Manager deletes the secret (RFC 3339); until then a reconnect restores it. */
  deletionDate: string;
  /** Whether it was deleted at once, with no recovery. */
  purged: boolean;
}

/** The answer of disconnect-integration for one provider. */
export interface DisconnectResult<P extends Provider> extends Disconnected<P> {
  tenantId: string;
}

/** The answer of disconnect-integration with `allProviders` (empty for a tenant with none). */
export interface OffboardResult {
  tenantId: string;
  integrations: Disconnected[];
}

/** One of a tenant's integrations, as list-integrations describes it (never a value). */
export interface Integration {
  provider: Provider;
  status: "connected" | "disconnected";
  versionId: string | null;
  createdDate: string | null;
  lastChangedDate: string | null;
  /** Only when disconnected: when the secret is deleted (RFC 3339). */
  deletionDate?: string;
}

/** The answer of list-integrations. */
export interface ListResult {
  tenantId: string;
  integrations: Integration[];
}

/** A method call-provider sends. */
export type ProviderMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

/** The body of call-provider: one call to the provider's API as the tenant. */
export interface CallProviderRequest<P extends Provider = Provider> {
  tenantId: string;
  provider: P;
  method: ProviderMethod;
  /** The path under the provider's API, e.g. `/assistant` (the query goes in `query`). */
  path: string;
  query?: Record<string, string | number | boolean>;
  /** Headers to send; the key's own header, `authorization`, `host`, `cookie` and hop-by-hop ones are refused. */
  headers?: Record<string, string>;
  /** A JSON value (sent as `application/json`) or a string (sent as it is). */
  body?: unknown;
  /** The oldest cached key the call accepts, in seconds (default: the stack's cache TTL). */
  maxAgeSeconds?: number;
}

/**
 * The provider's answer, as call-provider passes it on: its status, its safe headers and its body,
 * every stored non-public value replaced by `****`.
 */
export interface ProviderResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
  /** The version of the key the call was made with. */
  versionId: string | null;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body as JSON (throws a `SyntaxError` when it is not JSON). */
  json(): unknown;
}

/** The operations of a tenant-keys stack. */
export interface TenantKeys {
  /** Stores a tenant's credentials for a provider: creates the secret or replaces its value. */
  connectIntegration<P extends Provider>(
    request: ConnectRequest<P>,
    options?: CallOptions,
  ): Promise<WriteResult<P>>;
  /** Reads a tenant's credentials; the `public` view's type holds only the public fields. */
  fetchKey<P extends Provider, V extends View = "full">(
    request: FetchRequest<P, V>,
    options?: CallOptions,
  ): Promise<FetchResult<P, V>>;
  /** Merges fields into a tenant's credentials (rotation), optionally as a compare-and-swap. */
  updateKey<P extends Provider>(
    request: UpdateRequest<P>,
    options?: CallOptions,
  ): Promise<WriteResult<P>>;
  /**
   * Takes a tenant's credentials for one provider out of reach (deleted after the stack's recovery
   * window; a reconnect restores them until then), or, with `allProviders`, every provider's.
   */
  disconnectIntegration<P extends Provider>(
    request: DisconnectRequest<P>,
    options?: CallOptions,
  ): Promise<DisconnectResult<P>>;
  disconnectIntegration(request: OffboardRequest, options?: CallOptions): Promise<OffboardResult>;
  /** Which providers a tenant has connected or disconnected, with dates; never a value. */
  listIntegrations(request: { tenantId: string }, options?: CallOptions): Promise<ListResult>;
  /**
   * Calls the provider's API as the tenant: the key is put in inside AWS and never reaches this
   * process. Resolves to the provider's answer whatever its status; throws `TenantKeysError` when
   * tenant-keys itself refuses (not connected, a path or header it does not send, the provider
   * unreachable). Only GET and HEAD are retried (another method may have reached the provider).
   */
  callProvider(request: CallProviderRequest, options?: CallOptions): Promise<ProviderResponse>;
  /**
   * A `fetch` bound to one tenant and provider, for a provider SDK that takes a custom fetch
   * (OpenAI's and Anthropic's `fetch` option): each request it is given becomes a call-provider
   * call with the URL's path and query, its headers (less the SDK's own key header and the ones
   * call-provider reserves) and its text body; the answer comes back as a `Response`. Give the SDK
   * any placeholder key: it is dropped.
   */
  providerFetch(tenantId: string, provider: Provider): typeof fetch;
}

const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_MAX_RETRY_DELAY_MS = 5_000;
const DEFAULT_ATTEMPT_TIMEOUT_MS = 15_000;
/** The first backoff step without `Retry-After`; doubled per attempt, with full jitter. */
const BACKOFF_BASE_MS = 250;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,256}$/;
/** The longest wait or timeout the options accept, in ms (10 minutes). */
const MAX_MS = 600_000;

/**
 * A client for one stack. Create it once per module (e.g. in `convex/lib/tenantKeys.ts`) from the
 * Convex environment variables. Throws a `TypeError` for unusable options; it never contains the
 * signing secret.
 */
export function createTenantKeys(options: TenantKeysOptions): TenantKeys {
  const signer = new RequestSigner(options.signingSecret);
  const baseUrl = parseBaseUrl(options.baseUrl);
  const send = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10) {
    throw new TypeError("maxAttempts must be an integer from 1 to 10");
  }
  const maxRetryDelayMs = options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS;
  if (!isIntegerIn(maxRetryDelayMs, 0, MAX_MS)) {
    throw new TypeError(`maxRetryDelayMs must be an integer from 0 to ${MAX_MS}`);
  }
  const attemptTimeoutMs = options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
  if (!isIntegerIn(attemptTimeoutMs, 1, MAX_MS)) {
    throw new TypeError(`attemptTimeoutMs must be an integer from 1 to ${MAX_MS}`);
  }

  async function call(
    fn: string,
    body: object,
    callOptions: CallOptions,
    isAnswer: (answer: unknown) => boolean,
  ): Promise<unknown> {
    const { idempotencyKey, signal } = callOptions;
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new TypeError("idempotencyKey must be 1-256 visible ASCII characters");
    }
    const webhookId = idempotencyKey ?? newWebhookId();
    const text = JSON.stringify(body);
    const url = `${baseUrl}/${fn}`;
    for (let attempt = 1; ; attempt++) {
      const outcome = await attemptOnce(url, text, webhookId, signal, isAnswer);
      if (outcome.ok) return outcome.answer;
      if (!isRetryable(outcome.error) || attempt >= maxAttempts) throw outcome.error;
      // A server that asks for a longer wait than this client would make is not retried early.
      if (outcome.retryAfterMs !== undefined && outcome.retryAfterMs > maxRetryDelayMs) {
        throw outcome.error;
      }
      const backoffMs = Math.random() * BACKOFF_BASE_MS * 2 ** (attempt - 1);
      await sleep(Math.min(outcome.retryAfterMs ?? backoffMs, maxRetryDelayMs), signal);
    }
  }

  /**
   * One signed POST, with its own timeout; a network failure is an outcome, not a throw. The
   * timeout and the caller's `signal` end the attempt even where `fetch` ignores its `signal`
   * (Convex's default runtime does): the attempt stops waiting for that answer.
   */
  async function attemptOnce(
    url: string,
    text: string,
    webhookId: string,
    signal: AbortSignal | undefined,
    isAnswer: (answer: unknown) => boolean,
  ): Promise<Outcome> {
    const posted = await post(url, text, webhookId, signal, async (response) =>
      isRedirect(response) ? undefined : readJson(response),
    );
    if (!posted.ok) return posted;
    const { response, read: answer } = posted;
    if (isRedirect(response)) return { ok: false, error: redirectRefused(response, url) };
    if (response.ok && isAnswer(answer)) return { ok: true, answer };
    return {
      ok: false,
      error: errorFromAnswer(response.status, response.ok ? undefined : answer),
      retryAfterMs: retryAfterMs(response.headers.get("retry-after")),
    };
  }

  /**
   * One signed POST of `text` to `url`, its answer read by `read`, within the attempt's timeout;
   * a network failure or a timeout is a `network_error` outcome, not a throw.
   */
  async function post<T>(
    url: string,
    text: string,
    webhookId: string,
    signal: AbortSignal | undefined,
    read: (response: Response) => Promise<T>,
  ): Promise<{ ok: true; response: Response; read: T } | { ok: false; error: TenantKeysError }> {
    throwIfAborted(signal);
    const attempt = new AbortController();
    const timer = setTimeout(() => attempt.abort(), attemptTimeoutMs);
    const onAbort = () => attempt.abort();
    signal?.addEventListener("abort", onAbort);
    try {
      const exchange = (async () => {
        const response = await send(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...signer.sign(webhookId, text, new Date()),
          },
          body: text,
          // A followed redirect would carry the signed request, credentials and all, to
          // wherever the Location points: the 3xx comes back as it is and ends the call.
          redirect: "manual",
          signal: attempt.signal,
        });
        return { response, read: await read(response) };
      })();
      const { response, read: done } = await untilAborted(exchange, attempt.signal);
      return { ok: true, response, read: done };
    } catch (cause) {
      throwIfAborted(signal);
      const detail = attempt.signal.aborted
        ? `no answer from ${url} within ${attemptTimeoutMs} ms`
        : `no answer from ${url}`;
      return {
        ok: false,
        error: new TenantKeysError(
          { status: 0, code: "network_error", title: "Network error", detail },
          { cause },
        ),
      };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** call-provider: the provider's answer, or tenant-keys' refusal as a `TenantKeysError`. */
  async function callProvider(
    request: CallProviderRequest,
    callOptions: CallOptions = {},
  ): Promise<ProviderResponse> {
    const { idempotencyKey, signal } = callOptions;
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new TypeError("idempotencyKey must be 1-256 visible ASCII characters");
    }
    const webhookId = idempotencyKey ?? newWebhookId();
    const text = JSON.stringify(request);
    const url = `${baseUrl}/call-provider`;
    // Another method may have reached the provider before an error: never sent twice.
    const attempts = request.method === "GET" || request.method === "HEAD" ? maxAttempts : 1;
    for (let attempt = 1; ; attempt++) {
      const posted = await post(url, text, webhookId, signal, async (response) =>
        isRedirect(response) ? new Uint8Array() : new Uint8Array(await response.arrayBuffer()),
      );
      let error: TenantKeysError;
      let retryAfter: number | undefined;
      if (!posted.ok) {
        error = posted.error;
      } else if (posted.response.headers.has(PROVIDER_HEADER)) {
        return providerResponse(posted.response, posted.read);
      } else if (isRedirect(posted.response)) {
        throw redirectRefused(posted.response, url);
      } else {
        let answer: unknown;
        try {
          answer = JSON.parse(new TextDecoder().decode(posted.read));
        } catch {
          answer = undefined;
        }
        error = errorFromAnswer(posted.response.status, answer);
        retryAfter = retryAfterMs(posted.response.headers.get("retry-after"));
      }
      if (!isRetryable(error) || attempt >= attempts) throw error;
      if (retryAfter !== undefined && retryAfter > maxRetryDelayMs) throw error;
      const backoffMs = Math.random() * BACKOFF_BASE_MS * 2 ** (attempt - 1);
      await sleep(Math.min(retryAfter ?? backoffMs, maxRetryDelayMs), signal);
    }
  }

  /** A `fetch` whose requests go through call-provider as `tenantId` with `provider`'s key. */
  function providerFetch(tenantId: string, provider: Provider): typeof fetch {
    const keyHeader = (PROVIDERS as Record<string, { keyHeader: string | null }>)[provider]
      ?.keyHeader;
    const dropped = new Set<string>([...RESERVED_HEADERS, ...(keyHeader ? [keyHeader] : [])]);
    return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      const headers: Record<string, string> = {};
      request.headers.forEach((value, name) => {
        if (!dropped.has(name) && !name.startsWith("sec-") && !name.startsWith("proxy-")) {
          headers[name] = value;
        }
      });
      const method = request.method.toUpperCase() as ProviderMethod;
      const text = method === "GET" || method === "HEAD" ? "" : await request.text();
      const isJson = (headers["content-type"] ?? "").includes("json");
      let body: unknown;
      if (text !== "") {
        try {
          body = isJson ? JSON.parse(text) : text;
        } catch {
          body = text;
        }
        if (isJson && typeof body !== "string") delete headers["content-type"];
      }
      const query: Record<string, string> = {};
      url.searchParams.forEach((value, name) => {
        query[name] = value;
      });
      const answer = await callProvider(
        {
          tenantId,
          provider,
          method,
          path: url.pathname,
          ...(url.search !== "" ? { query } : {}),
          headers,
          ...(body !== undefined ? { body } : {}),
        },
        { signal: request.signal },
      );
      const empty = method === "HEAD" || [101, 204, 205, 304].includes(answer.status);
      return new Response(empty ? null : (answer.body as Uint8Array<ArrayBuffer>), {
        status: answer.status,
        headers: answer.headers,
      });
    };
  }

  // The answers' shapes are the API contract's; each check has tested the part every answer of
  // the operation has.
  return {
    connectIntegration: (request, callOptions = {}) =>
      call("connect-integration", request, callOptions, hasCredentials) as Promise<never>,
    fetchKey: (request, callOptions = {}) => {
      const { maxAgeSeconds } = request as { maxAgeSeconds?: unknown };
      if (maxAgeSeconds !== undefined && !isIntegerIn(maxAgeSeconds, 0, Number.MAX_SAFE_INTEGER)) {
        throw new TypeError("maxAgeSeconds must be an integer of 0 or more");
      }
      return call("fetch-key", request, callOptions, hasCredentials) as Promise<never>;
    },
    updateKey: (request, callOptions = {}) =>
      call("update-key", request, callOptions, hasCredentials) as Promise<never>,
    disconnectIntegration: ((
      request: DisconnectRequest<Provider> | OffboardRequest,
      callOptions: CallOptions = {},
    ) => {
      const check = "allProviders" in request ? hasIntegrations : hasDeletionDate;
      return call("disconnect-integration", request, callOptions, check);
    }) as TenantKeys["disconnectIntegration"],
    listIntegrations: (request, callOptions = {}) =>
      call("list-integrations", request, callOptions, hasIntegrations) as Promise<never>,
    callProvider,
    providerFetch,
  };
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/** One attempt's result: the answer, or the error and how long the server asked to wait. */
type Outcome =
  | { ok: true; answer: unknown }
  | { ok: false; error: TenantKeysError; retryAfterMs?: number | undefined };

/** The header that marks call-provider's answer as the provider's (it names the provider). */
const PROVIDER_HEADER = "tenant-keys-provider";

/** A provider's answer passed on by call-provider. */
function providerResponse(response: Response, body: Uint8Array): ProviderResponse {
  return {
    status: response.status,
    headers: response.headers,
    body,
    versionId: response.headers.get("tenant-keys-version-id"),
    text: () => new TextDecoder().decode(body),
    json: () => JSON.parse(new TextDecoder().decode(body)) as unknown,
  };
}

function parseBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError("baseUrl must be an absolute http(s) URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TypeError("baseUrl must be an absolute http(s) URL");
  }
  return url.href.replace(/\/+$/, "");
}

/** Whether an answer is a redirect: a 3xx, or the opaque answer of `redirect: "manual"` in a browser-like runtime. */
function isRedirect(response: Response): boolean {
  return response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400);
}

/** The error for a redirect: its status and the host it points to, nothing else of it. */
function redirectRefused(response: Response, url: string): TenantKeysError {
  let target = "another place";
  const location = response.headers.get("location");
  if (location !== null) {
    try {
      target = `host ${new URL(location, url).host}`;
    } catch {
      // An unparsable Location names no host.
    }
  }
  return new TenantKeysError({
    status: response.status,
    code: "redirect_refused",
    title: "Redirect refused",
    detail: `the stack answered ${response.status} redirecting to ${target}; the client follows no redirect (it would send the signed request there): check baseUrl`,
  });
}

/** The body as JSON, or `undefined` when it is not JSON. */
async function readJson(response: Response): Promise<unknown> {
  try {
    return JSON.parse(await response.text());
  } catch {
    return undefined;
  }
}

/** Whether a 2xx body has what every answer of connect, fetch and update has. */
function hasCredentials(body: unknown): boolean {
  if (typeof body !== "object" || body === null) return false;
  const { versionId, credentials } = body as Record<string, unknown>;
  return typeof versionId === "string" && typeof credentials === "object" && credentials !== null;
}

/** Whether a 2xx body is disconnect-integration's answer for one provider. */
function hasDeletionDate(body: unknown): boolean {
  if (typeof body !== "object" || body === null) return false;
  return typeof (body as Record<string, unknown>).deletionDate === "string";
}

/** Whether a 2xx body is a list of integrations (list-integrations, offboarding). */
function hasIntegrations(body: unknown): boolean {
  if (typeof body !== "object" || body === null) return false;
  return Array.isArray((body as Record<string, unknown>).integrations);
}

/** `Retry-After` in ms when it is a number of seconds (the functions send `2`, or `3600`). */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const wait = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return untilAborted(wait, signal).finally(() => clearTimeout(timer));
}

/** `promise`, or a rejection as soon as `signal` aborts, whichever comes first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort);
    promise
      .then(resolve, reject)
      .finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Like `AbortSignal.throwIfAborted`, which some runtimes' AbortSignal lacks. */
function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error("The call was aborted");
}
