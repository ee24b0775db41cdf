// Requests to the control plane's runtime API, and the retry policy the protocol asks for: 5xx, 429 and
// network errors are retried with exponential backoff (same Idempotency-Key, so a retry stores nothing
// twice); any other 4xx is final. OpenClaw core dead-letters a failed channel send, so this is the only
// place a send is retried.

export const RUNTIME_PREFIX = "/api/v1/runtime";

export class RequestAborted extends Error {
  constructor() {
    super("request aborted");
    this.name = "RequestAborted";
  }
}

/** A response the caller decided not to retry (or ran out of retries on). */
export class HttpError extends Error {
  constructor(status, code, detail) {
    super(`control plane answered ${status}${code ? ` ${code}` : ""}${detail ? `: ${detail}` : ""}`);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
  }
}

export function isRetryableStatus(status) {
  return status >= 500 || status === 429;
}

/**
 * One request. `config` is {apiUrl, token}; `body` is an object (sent as JSON) or a Buffer/Uint8Array
 * (sent as is, with `headers["Content-Type"]`). Resolves {status, headers, body: Buffer}; rejects with
 * RequestAborted when `signal` fires, or with the network error.
 */
export async function request(config, method, path, { body, headers = {}, timeoutMs = 30_000, signal } = {}) {
  const hdrs = { Authorization: `Bearer ${config.token}`, ...headers };
  let payload;
  if (body instanceof Uint8Array) {
    payload = body;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    hdrs["Content-Type"] = "application/json";
  }
  const signals = [AbortSignal.timeout(timeoutMs)];
  if (signal) signals.push(signal);
  try {
    const response = await fetch(config.apiUrl + RUNTIME_PREFIX + path, {
      method,
      headers: hdrs,
      body: payload,
      signal: AbortSignal.any(signals),
      redirect: "error",
    });
    const raw = Buffer.from(await response.arrayBuffer());
    return { status: response.status, headers: response.headers, body: raw };
  } catch (err) {
    if (signal?.aborted) throw new RequestAborted();
    throw err;
  }
}

/** Full-jitter exponential backoff: attempt 1 → up to `base`, doubling, capped. */
export function backoffDelay(attempt, { baseMs = 250, capMs = 30_000, random = Math.random } = {}) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** Resolves after `ms`, or at once (false) when `signal` fires. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function retryAfterMs(headers) {
  const value = Number(headers?.get?.("retry-after"));
  return Number.isFinite(value) && value > 0 ? Math.min(value * 1000, 60_000) : undefined;
}

function errorCode(body) {
  try {
    const parsed = JSON.parse(body.toString("utf8"));
    return { code: parsed?.code, detail: parsed?.detail };
  } catch {
    return {};
  }
}

/**
 * A request retried until it gets a final answer or `deadlineMs` passes. `getConfig` is called per
 * attempt, so a token rotated mid-retry is picked up. Resolves the final response (2xx); throws HttpError
 * on a final 4xx or when the deadline passes, RequestAborted when `signal` fires.
 */
export async function requestWithRetry(getConfig, method, path, options = {}) {
  const { signal, deadlineMs = 10 * 60_000, log, baseMs, capMs, ...requestOptions } = options;
  const giveUpAt = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt += 1) {
    let failure;
    let wait;
    try {
      const response = await request(getConfig(), method, path, { ...requestOptions, signal });
      if (response.status < 400) return response;
      const { code, detail } = errorCode(response.body);
      if (!isRetryableStatus(response.status)) throw new HttpError(response.status, code, detail);
      failure = new HttpError(response.status, code, detail);
      wait = retryAfterMs(response.headers);
    } catch (err) {
      if (err instanceof RequestAborted || err instanceof HttpError) throw err;
      failure = err;
    }
    const delay = wait ?? backoffDelay(attempt, { baseMs, capMs });
    if (Date.now() + delay > giveUpAt) throw failure;
    log?.warn?.(`yourclaw: ${method} ${path.split("?")[0]} failed (${describe(failure)}), retrying in ${delay} ms`);
    if (!(await sleep(delay, signal))) throw new RequestAborted();
  }
}

/** A short, secret-free description of a failure for logs. */
export function describe(err) {
  if (err instanceof HttpError) return `HTTP ${err.status}${err.code ? ` ${err.code}` : ""}`;
  const cause = err?.cause?.code ?? err?.code;
  return cause ? `${err?.name ?? "Error"} ${cause}` : String(err?.name ?? err);
}
