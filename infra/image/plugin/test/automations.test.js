// The reminders and watchers the assistant set up, reported whole to a fake control plane: which of OpenClaw's
// jobs are the user's, what each becomes, and the reporter driven by OpenClaw's cron hooks (the scheduler is a
// fake with OpenClaw's `list({includeDisabled})`; tests/e2e/test_watch.py runs it inside the pinned OpenClaw).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { automationKind, MAX_AUTOMATIONS, MAX_NAME_CHARS, registerAutomationReports, toAutomations } from "../src/automations.js";
import { FakeControlPlane } from "./fake-control-plane.js";

let fake;
before(async () => {
  fake = await new FakeControlPlane({ tokens: ["yca_a"] }).start();
});
after(async () => fake.stop());

const until = async (check, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};

const DUE = Date.parse("2026-12-08T09:00:00Z");
const HEARTBEAT = { id: "hb", name: "heartbeat", declarationKey: "heartbeat:main", enabled: true, schedule: { kind: "every", everyMs: 3_600_000 }, payload: { kind: "heartbeat" }, state: {} };
const DREAMING = { id: "dream", name: "Memory Dreaming", declarationKey: "memory-core:dreaming", enabled: true, schedule: { kind: "cron", expr: "0 3 * * *" }, payload: { kind: "systemEvent", text: "dream" }, state: {} };
const DENTIST = { id: "job-1", name: "call the dentist", enabled: true, schedule: { kind: "at", at: "2026-12-08T09:00:00Z" }, payload: { kind: "agentTurn", message: "remind" }, state: { nextRunAtMs: DUE } };
const PARCEL = { id: "job-2", name: "parcel-watch", enabled: true, schedule: { kind: "every", everyMs: 30_000 }, trigger: { script: "json({fire:false})", once: true }, payload: { kind: "agentTurn", message: "tell" }, state: { nextRunAtMs: DUE - 1000 } };

test("only the user's jobs are reported, each as what it is for them", () => {
  const plants = { id: "job-3", name: "water the plants", enabled: false, schedule: { kind: "cron", expr: "0 8 * * *" }, payload: { kind: "agentTurn", message: "x" }, state: {} };
  // A watcher's next run is only its next check: not reported.
  assert.deepEqual(toAutomations([HEARTBEAT, DREAMING, DENTIST, PARCEL, plants]), [
    { id: "job-1", name: "call the dentist", kind: "one_time", next_run_at: "2026-12-08T09:00:00.000Z", enabled: true },
    { id: "job-2", name: "parcel-watch", kind: "watcher", next_run_at: null, enabled: true },
    { id: "job-3", name: "water the plants", kind: "recurring", next_run_at: null, enabled: false },
  ]);
  assert.equal(automationKind({ schedule: { kind: "on-exit", command: "make" } }), "watcher");
  assert.equal(automationKind({ schedule: { kind: "stream", command: ["tail"] } }), "watcher");
  assert.equal(automationKind({ schedule: { kind: "every", everyMs: 60_000 } }), "recurring");
});

test("names and the list stay within the protocol's limits", () => {
  const long = "🦷".repeat(MAX_NAME_CHARS + 5);
  const many = Array.from({ length: MAX_AUTOMATIONS + 7 }, (_, i) => ({ ...DENTIST, id: `job-${i}`, name: long, state: { nextRunAtMs: DUE + i } }));
  const list = toAutomations([...many, { ...DENTIST, id: "x".repeat(101) }, { ...DENTIST, id: "nameless", name: "" }]);
  assert.equal(list.length, MAX_AUTOMATIONS);
  assert.equal(Array.from(list[0].name).length, MAX_NAME_CHARS);
  assert.ok(list[0].name.endsWith("…") && !list.some((a) => a.id.length > 100));
  assert.equal(toAutomations([{ ...DENTIST, name: "  " }])[0].name, "Reminder");
});

function gateway() {
  const hooks = new Map();
  const logs = [];
  const api = {
    config: { channels: { yourclaw: { apiUrl: fake.url, token: "yca_a", userId: "user-1", generation: 1 } } },
    logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m) },
    on: (name, handler) => hooks.set(name, handler),
  };
  const channelConfig = (cfg) => ({ ...cfg.channels.yourclaw });
  const jobs = [HEARTBEAT];
  const cron = { list: async ({ includeDisabled }) => (includeDisabled ? jobs : jobs.filter((j) => j.enabled)) };
  const reporter = registerAutomationReports(api, { channelConfig });
  return { hooks, logs, jobs, cron, reporter };
}

test("the whole list goes out at reconciliation and after each change, never twice the same", async () => {
  const { hooks, logs, jobs, cron, reporter } = gateway();
  const start = fake.automationReports.length;
  const reports = () => fake.automationReports.slice(start);
  hooks.get("cron_reconciled")({ reason: "startup", enabled: true }, { getCron: () => cron, abortSignal: new AbortController().signal });
  await until(() => reports().length === 1);
  assert.deepEqual(reports()[0], { automations: [], token: "yca_a" });

  jobs.push(DENTIST);
  hooks.get("cron_changed")({ action: "added", jobId: DENTIST.id }, { getCron: () => cron });
  await until(() => reports().length === 2);
  assert.deepEqual(reports()[1].automations.map((a) => a.id), ["job-1"]);

  // A burst of hints (a watcher checking, a run starting and finishing) with nothing new sends nothing.
  await Promise.all(["started", "finished", "scheduled"].map((action) => reporter.changed()));
  assert.equal(reports().length, 2);

  jobs.push(PARCEL);
  jobs.splice(jobs.indexOf(DENTIST), 1);
  await reporter.changed();
  assert.deepEqual(reports().at(-1).automations.map((a) => a.name), ["parcel-watch"]);
  await hooks.get("gateway_stop")({});
  assert.ok(logs.every((line) => !line.includes("parcel-watch") && !line.includes("dentist")), logs.join("\n"));
});

test("a recurring job's next run moving on waits for the periodic resend; a watcher's checks send nothing", async () => {
  const { hooks, jobs, cron, reporter } = gateway();
  const hourly = { id: "job-h", name: "drink water", enabled: true, schedule: { kind: "every", everyMs: 3_600_000 }, payload: { kind: "agentTurn", message: "x" }, state: { nextRunAtMs: DUE } };
  jobs.push(hourly, { ...PARCEL });
  const start = fake.automationReports.length;
  hooks.get("cron_reconciled")({ reason: "startup", enabled: true }, { getCron: () => cron });
  await reporter.worker;
  jobs[1] = { ...hourly, state: { nextRunAtMs: DUE + 3_600_000 } };
  jobs[2] = { ...PARCEL, state: { nextRunAtMs: DUE + 30_000, triggerEvalCount: 2 } };
  await reporter.changed();
  assert.equal(fake.automationReports.length, start + 1);
  reporter.acceptedAt -= reporter.resyncMs; // the resend is due
  await reporter.changed();
  const sent = fake.automationReports.slice(start).map((r) => r.automations.find((a) => a.id === "job-h").next_run_at);
  assert.deepEqual(sent, [new Date(DUE).toISOString(), new Date(DUE + 3_600_000).toISOString()]);
  await reporter.stop();
});

test("a refused report is logged without names and sent again on the next change", async () => {
  const { hooks, logs, jobs, cron, reporter } = gateway();
  jobs.push(DENTIST);
  const start = fake.automationReports.length;
  fake.failNext.push({ path: "/automations", status: 422 });
  hooks.get("cron_reconciled")({ reason: "startup", enabled: true }, { getCron: () => cron });
  await reporter.worker;
  assert.equal(fake.automationReports.length, start);
  assert.ok(logs.some((line) => line.includes("not reported (HTTP 422 INJECTED)")), logs.join("\n"));
  await reporter.changed();
  assert.deepEqual(fake.automationReports.slice(start).map((r) => r.automations.length), [1]);
  assert.ok(logs.every((line) => !line.includes("dentist")), logs.join("\n"));
  await reporter.stop();
});

test("before any reconciliation a change hint's scheduler is used; with none nothing is sent", async () => {
  const { hooks, jobs, cron, reporter } = gateway();
  const start = fake.automationReports.length;
  await reporter.changed();
  assert.equal(fake.automationReports.length, start);
  jobs.push(PARCEL);
  hooks.get("cron_changed")({ action: "added" }, { getCron: () => cron });
  await until(() => fake.automationReports.length === start + 1);
  await reporter.stop();
});
