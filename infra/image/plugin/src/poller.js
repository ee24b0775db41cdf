// The long poll: GET /inbound?wait=25 reporting the config generation and this instance, one message at a
// time. The control plane decides readiness from these polls (the current container polling with the
// current generation), so a poll goes out at once after start and after every config change.
import { describe, HttpError, RequestAborted, backoffDelay, request, sleep } from "./http.js";
import { handleMessage } from "./turn.js";

export const POLL_WAIT_S = 25;
const MAX_BACKOFF_MS = 30_000;

// The turn in flight, shared by every poller of this process: a config change restarts the poller but
// must not cut a running turn (it acks with the new token when it ends), and the next poll waits for it
// (one message in flight per user, in order).
let inflight = null;

export function turnInFlight() {
  return inflight;
}

export class Poller {
  /**
   * `getConfig()` → {apiUrl, token, userId, generation} (the live one: a turn outliving this poller acks
   * with the newest token); `config` is the one this poller reports (it is replaced on a change);
   * `instanceId`; `finished` (FinishedIds); `runTurn`, `saveMedia` (see turn.js); `log`;
   * `setStatus(patch)`; `pollWaitS`; `random` (tests).
   */
  constructor(options) {
    this.options = options;
    this.config = options.config;
    this.pollWaitS = options.pollWaitS ?? POLL_WAIT_S;
    this.failures = 0;
  }

  /** Polls until `signal` fires; resolves then, without waiting for a turn in flight. */
  async run(signal) {
    const { log } = this.options;
    const stopped = new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    while (!signal.aborted) {
      if (inflight) {
        await Promise.race([inflight, stopped]);
        continue;
      }
      let response;
      try {
        response = await request(this.config, "GET", `/inbound?wait=${this.pollWaitS}`, {
          headers: { "X-Config-Generation": String(this.config.generation), "X-Instance-Id": this.options.instanceId },
          timeoutMs: (this.pollWaitS + 15) * 1000,
          signal,
        });
      } catch (err) {
        if (err instanceof RequestAborted || signal.aborted) break;
        await this.#backoff(signal, `control plane unreachable (${describe(err)})`, true);
        continue;
      }
      const { status } = response;
      if (status === 200 || status === 204) {
        if (this.failures > 0) log?.info?.("yourclaw: polling again");
        this.failures = 0;
        this.#status({ connected: true, lastError: null, lastConnectedAt: Date.now() });
        if (status === 200) await this.#takeBatch(response.body, signal, stopped);
      } else if (status === 401) {
        // Revoked or rotated: OpenClaw restarts this channel with the new token when the config changes.
        await this.#backoff(signal, "the control plane does not know this token (401)", false);
      } else if (status === 409) {
        // Another container polls with this token; the newest wins and the control plane tells the
        // reconciler. Keep asking, slowly, in case that one goes away.
        await this.#backoff(signal, "another instance holds this token (409)", false);
      } else {
        await this.#backoff(signal, `poll answered ${describe(new HttpError(status))}`, status >= 500 || status === 429);
      }
    }
  }

  async #takeBatch(body, signal, stopped) {
    let messages;
    try {
      messages = JSON.parse(body.toString("utf8")).messages;
    } catch {
      this.options.log?.warn?.("yourclaw: poll answered a body that is not JSON, ignored");
      return;
    }
    for (const message of Array.isArray(messages) ? messages : []) {
      if (!message || typeof message !== "object" || !message.id) {
        this.options.log?.warn?.("yourclaw: inbound message without an id, ignored");
        continue;
      }
      const turn = handleMessage(message, this.options).finally(() => {
        if (inflight === turn) inflight = null;
      });
      inflight = turn;
      await Promise.race([turn, stopped]);
      if (signal.aborted) return;
    }
  }

  async #backoff(signal, reason, jitter) {
    this.failures += 1;
    const ceiling = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (this.failures - 1));
    const delay = jitter ? backoffDelay(this.failures, { baseMs: 1000, capMs: MAX_BACKOFF_MS, random: this.options.random }) : ceiling;
    this.options.log?.warn?.(`yourclaw: ${reason}; polling again in ${delay} ms`);
    this.#status({ connected: false, lastError: reason });
    await sleep(delay, signal);
  }

  #status(patch) {
    this.options.setStatus?.(patch);
  }
}
