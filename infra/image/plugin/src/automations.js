// The reminders and watchers the assistant set up, reported to the control plane whole
// (`PUT /runtime/automations`, docs/assistant-protocol.md) so the user's dashboard can show them: OpenClaw keeps
// them in its cron scheduler inside this container, however they were made (the `automations` tool, code mode's
// `exec`, the CLI). It follows OpenClaw's "safe external cron projection" (docs/plugins/hooks/lifecycle.md): the
// scheduler is adopted only from `cron_reconciled` (at start and whenever it is replaced), `cron_changed` only
// asks for a fresh look, one report is in flight at a time and the newest state wins. A list the control plane
// has already accepted is not sent again, and a recurring job's next run moving on waits for the periodic
// resend, which also heals a failed report. Names are the user's words: never logged.
import { describe, RequestAborted, requestWithRetry } from "./http.js";

// The protocol's limits (the control plane's defaults): past them the soonest are the ones worth showing.
export const MAX_AUTOMATIONS = 100;
export const MAX_NAME_CHARS = 200;
const MAX_ID_CHARS = 100;
export const RESYNC_MS = 15 * 60_000;
const REPORT_DEADLINE_MS = 5 * 60_000;

/** "one_time" (an `at` schedule), "watcher" (a condition or a process it watches), else "recurring". */
export function automationKind(job) {
  const kind = job?.schedule?.kind;
  if (job?.trigger || kind === "on-exit" || kind === "stream") return "watcher";
  return kind === "at" ? "one_time" : "recurring";
}

function clip(text, limit) {
  const chars = Array.from(text); // code points: never half of a surrogate pair
  return chars.length <= limit ? text : `${chars.slice(0, limit - 1).join("")}…`;
}

/**
 * The user's automations among OpenClaw's cron jobs, as the protocol takes them. Jobs OpenClaw or a plugin
 * declares for itself (the heartbeat, memory dreaming, backups: they carry a `declarationKey`) are not the
 * user's and are left out.
 */
export function toAutomations(jobs) {
  const list = [];
  for (const job of Array.isArray(jobs) ? jobs : []) {
    if (!job || typeof job.id !== "string" || !job.id || job.id.length > MAX_ID_CHARS) continue;
    if (job.declarationKey || job.payload?.kind === "heartbeat") continue;
    const name = String(job.displayName || job.name || job.description || "").trim() || "Reminder";
    const kind = automationKind(job);
    // A watcher's next run is only its next check (every 30 s, say): no news, and a report each time if sent.
    const next = kind === "watcher" ? undefined : job.state?.nextRunAtMs;
    list.push({
      id: job.id,
      name: clip(name, MAX_NAME_CHARS),
      kind,
      next_run_at: Number.isFinite(next) ? new Date(next).toISOString() : null,
      enabled: job.enabled !== false,
    });
  }
  const due = (a) => (a.enabled && a.next_run_at ? Date.parse(a.next_run_at) : Number.MAX_SAFE_INTEGER);
  list.sort((a, b) => due(a) - due(b) || a.id.localeCompare(b.id));
  return list.slice(0, MAX_AUTOMATIONS);
}

/**
 * What a report must not wait for: every change but a recurring reminder's next run moving on after each run,
 * which the periodic resend carries (so a job every minute costs a report per resend, not per run).
 */
export function significant(automations) {
  return JSON.stringify(automations.map((a) => (a.kind === "recurring" ? { ...a, next_run_at: undefined } : a)));
}

export class AutomationReporter {
  /** `getConfig()` → the channel config to send with (may throw while there is none); `log`; `resyncMs`. */
  constructor({ getConfig, log, resyncMs = RESYNC_MS, retry = {} }) {
    this.getConfig = getConfig;
    this.log = log;
    this.retry = retry;
    this.resyncMs = resyncMs;
    this.cron = undefined;
    this.requested = 0;
    this.done = 0;
    this.accepted = undefined; // the list the control plane last accepted, as sent and as `significant`
    this.acceptedSignificant = undefined;
    this.acceptedAt = 0;
    this.worker = Promise.resolve();
    this.lifecycle = new AbortController();
    this.attempt = undefined;
    this.timer = undefined;
  }

  /** The scheduler `cron_reconciled` handed over: the one every report reads. */
  adopt(cron) {
    this.cron = cron;
    if (!this.timer && this.resyncMs > 0) {
      this.timer = setInterval(() => this.request(), this.resyncMs);
      this.timer.unref?.();
    }
    return this.request();
  }

  /**
   * A `cron_changed` hint. Its scheduler is taken only while none was adopted yet (a plugin loaded after
   * the last reconciliation would otherwise never report until the next one).
   */
  changed(cron) {
    if (!this.cron && cron) this.cron = cron;
    return this.request();
  }

  /** Asks for a report of the current state; resolves when one covering this request has ended. */
  request() {
    if (this.lifecycle.signal.aborted) return this.worker;
    const target = ++this.requested;
    this.attempt?.abort(); // a newer state is coming: the report in flight is already stale
    this.worker = this.worker.then(() => (this.done < target ? this.#reportLatest() : undefined));
    return this.worker;
  }

  async stop() {
    clearInterval(this.timer);
    this.timer = undefined;
    this.lifecycle.abort();
    await this.worker;
  }

  async #reportLatest() {
    while (this.done < this.requested && !this.lifecycle.signal.aborted) {
      const target = this.requested;
      const cron = this.cron;
      if (!cron) {
        this.done = target;
        return;
      }
      const attempt = new AbortController();
      this.attempt = attempt;
      try {
        const automations = toAutomations(await cron.list({ includeDisabled: true }));
        if (target !== this.requested) continue; // changed meanwhile: look again
        const body = JSON.stringify(automations);
        const key = significant(automations);
        // Half the period: the timer's ticks do not line up with the last acceptance.
        const due = Date.now() - this.acceptedAt >= this.resyncMs / 2;
        if (key !== this.acceptedSignificant || (body !== this.accepted && due)) {
          await requestWithRetry(this.getConfig, "PUT", "/automations", {
            body: { automations },
            signal: AbortSignal.any([this.lifecycle.signal, attempt.signal]),
            log: this.log,
            deadlineMs: REPORT_DEADLINE_MS,
            ...this.retry,
          });
          this.accepted = body;
          this.acceptedSignificant = key;
          this.acceptedAt = Date.now();
          this.log?.info?.(`yourclaw: reported ${automations.length} automation(s)`);
        }
        this.done = target;
      } catch (err) {
        if (err instanceof RequestAborted) continue; // stopped, or a newer request replaced this one
        // Refused (4xx) or not reachable in time: the next change or the resync timer tries again.
        this.accepted = undefined;
        this.acceptedSignificant = undefined;
        this.done = target;
        this.log?.warn?.(`yourclaw: automations not reported (${describe(err)})`);
      } finally {
        if (this.attempt === attempt) this.attempt = undefined;
      }
    }
  }
}

/**
 * Wires the reporter to OpenClaw's hooks. `channelConfig(cfg)` → the channel config to send with, given the
 * OpenClaw config a hook saw (the newest one a channel monitor started with wins: it has the current token).
 */
export function registerAutomationReports(api, { channelConfig }) {
  let cfg = api.config;
  const reporter = new AutomationReporter({ getConfig: () => channelConfig(cfg), log: api.logger });
  // Not awaited: a report may wait on the network, and these are observation hooks the gateway may await.
  api.on("cron_reconciled", (_event, ctx) => {
    cfg = ctx?.config ?? cfg;
    // Even with scheduling off (`enabled: false`) the jobs exist and are the user's: they are reported.
    void reporter.adopt(ctx?.getCron?.());
  });
  api.on("cron_changed", (_event, ctx) => {
    cfg = ctx?.config ?? cfg;
    void reporter.changed(ctx?.getCron?.());
  });
  api.on("gateway_stop", () => reporter.stop());
  return reporter;
}
