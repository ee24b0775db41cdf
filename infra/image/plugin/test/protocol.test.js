// The plugin's side of docs/assistant-protocol.md against a fake control plane: `node --test test/`.
// OpenClaw itself is replaced by `runTurn` (what the channel passes to dispatchInboundDirectDmWithRuntime);
// tests/e2e loads the plugin into the pinned OpenClaw.
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";

import { FinishedIds } from "../src/finished.js";
import { HttpError, requestWithRetry } from "../src/http.js";
import { postMessage, sendPayload } from "../src/outbound.js";
import { Poller, turnInFlight } from "../src/poller.js";
import { savedContentType } from "../src/turn.js";
import { FakeControlPlane } from "./fake-control-plane.js";

let fake;
before(async () => {
  fake = await new FakeControlPlane({ tokens: ["yca_a", "yca_b"], pollWaitCapMs: 200, leaseMs: 1500 }).start();
});
// A test that fails half way still stops its pollers: one left polling would keep the process alive.
const running = new Set();
afterEach(async () => {
  await Promise.all([...running].map((p) => p.stop()));
});
after(async () => fake.stop());

const until = async (check, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};

async function startPoller(overrides = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), "yc-plugin-"));
  const finished = await new FinishedIds(path.join(dir, "finished.json")).load();
  const config = { apiUrl: fake.url, token: "yca_a", userId: "user-1", generation: 7, ...overrides.config };
  const turns = [];
  const controller = new AbortController();
  const poller = new Poller({
    config,
    getConfig: overrides.getConfig ?? (() => config),
    instanceId: "test-1",
    finished,
    pollWaitS: 1,
    extendIntervalMs: 50,
    random: () => 1,
    saveMedia: async (bytes, contentType) => ({ path: path.join(dir, `m-${bytes.length}`), contentType }),
    runTurn: overrides.runTurn ?? (async ({ message, deliver, mediaFacts }) => {
      turns.push({ message, mediaFacts });
      await deliver({ text: `echo: ${message.text}` });
    }),
    setStatus: () => {},
  });
  const loop = poller.run(controller.signal);
  const started = {
    poller,
    finished,
    turns,
    dir,
    stop: async () => {
      controller.abort();
      await loop;
      running.delete(started);
    },
  };
  running.add(started);
  return started;
}

test("a message is answered, then acked, with generation and instance on every poll", async () => {
  const p = await startPoller();
  const id = fake.send("hi");
  await until(() => fake.acks.some((a) => a.id === id));
  assert.deepEqual(fake.outbound.get(`${id}:0`), { kind: "reply", text: "echo: hi", in_reply_to: id, token: "yca_a" });
  assert.ok(fake.polls.every((poll) => poll.generation === 7 && poll.instanceId === "test-1"));
  assert.ok(p.finished.has(id));
  await p.stop();
});

test("a redelivered message that was finished is acked again, not answered twice", async () => {
  const p = await startPoller();
  const id = fake.send("once");
  await until(() => fake.acks.filter((a) => a.id === id).length === 1);
  fake.queue.push({ id, from: "user-1", text: "once", media: [], received_at: new Date().toISOString() });
  await until(() => fake.acks.filter((a) => a.id === id).length === 2);
  assert.equal(p.turns.filter((t) => t.message.id === id).length, 1);
  await p.stop();
  // And across restarts: the finished ids live on the volume.
  const saved = JSON.parse(await readFile(path.join(p.dir, "finished.json"), "utf8"));
  assert.ok(saved.ids.includes(id));
});

test("the lease is extended while a long turn runs, and the ack comes after the replies", async () => {
  const order = [];
  const p = await startPoller({
    runTurn: async ({ message, deliver }) => {
      await new Promise((r) => setTimeout(r, 300));
      await deliver({ text: "part one" });
      await deliver({ text: "part two" });
      order.push("replied");
    },
  });
  const id = fake.send("slow");
  await until(() => fake.acks.some((a) => a.id === id));
  assert.ok(fake.extends.filter((e) => e.id === id).length >= 2);
  assert.equal(fake.outbound.get(`${id}:1`).text, "part two");
  assert.deepEqual(order, ["replied"]);
  await p.stop();
});

test("outbound retries 5xx and 429 with the same Idempotency-Key and stores once", async () => {
  fake.failNext.push({ path: "/outbound", status: 503 }, { path: "/outbound", status: 429 });
  const cfg = () => ({ apiUrl: fake.url, token: "yca_a" });
  await postMessage(cfg, { kind: "proactive", text: "reminder", key: "k-retry" }, { baseMs: 5 });
  const attempts = fake.outboundAttempts.filter((a) => a.key === "k-retry").map((a) => a.status);
  assert.deepEqual(attempts, [503, 429, 202]);
  assert.equal(fake.outbound.get("k-retry").kind, "proactive");
});

test("outbound does not retry a 4xx other than 429", async () => {
  fake.failNext.push({ path: "/outbound", status: 422 });
  const cfg = () => ({ apiUrl: fake.url, token: "yca_a" });
  await assert.rejects(postMessage(cfg, { kind: "proactive", text: "x", key: "k-422" }, { baseMs: 5 }), (err) => err instanceof HttpError && err.status === 422);
  assert.deepEqual(fake.outboundAttempts.filter((a) => a.key === "k-422").map((a) => a.status), [422]);
});

test("network errors are retried until the control plane is back", async () => {
  const down = { apiUrl: "http://127.0.0.1:9", token: "yca_a" };
  let calls = 0;
  const cfg = () => (++calls < 3 ? down : { apiUrl: fake.url, token: "yca_a" });
  await requestWithRetry(cfg, "POST", "/outbound", { body: { kind: "proactive", text: "back" }, headers: { "Idempotency-Key": "k-net" }, baseMs: 5 });
  assert.equal(calls, 3);
  assert.ok(fake.outbound.has("k-net"));
});

test("media goes up first, then the message names it; inbound media is downloaded for the turn", async () => {
  const cfg = () => ({ apiUrl: fake.url, token: "yca_a" });
  const dir = await mkdtemp(path.join(tmpdir(), "yc-media-"));
  const file = path.join(dir, "chart.png");
  await (await import("node:fs/promises")).writeFile(file, Buffer.from("png-bytes"));
  let n = 0;
  await sendPayload(cfg, { kind: "reply", text: "here", media: [file], inReplyTo: "m1", nextKey: () => `m1:${n++}` });
  const stored = fake.outbound.get("m1:0");
  assert.equal(stored.text, "here");
  assert.equal(fake.media.get(stored.media_id).contentType, "image/png");

  const p = await startPoller();
  const url = fake.storeMedia(Buffer.from("jpeg-bytes"), "image/jpeg");
  const id = fake.send("look", { media: [{ url, content_type: "image/jpeg" }] });
  await until(() => fake.acks.some((a) => a.id === id));
  const turn = p.turns.find((t) => t.message.id === id);
  assert.equal(turn.mediaFacts.length, 1);
  assert.equal(turn.mediaFacts[0].contentType, "image/jpeg");
  await p.stop();
});

test("a saved attachment keeps the type sniffed from its bytes, unless they name only their container", () => {
  assert.equal(savedContentType("application/ogg", "audio/ogg"), "audio/ogg"); // a voice note
  assert.equal(savedContentType("application/octet-stream", "audio/amr"), "audio/amr");
  assert.equal(savedContentType("image/png", "image/jpeg"), "image/png"); // the bytes win over a wrong label
  assert.equal(savedContentType("application/ogg", undefined), "application/ogg");
  assert.equal(savedContentType(undefined, "audio/ogg"), "audio/ogg");
});

test("409 and 401 back off instead of hammering; a config change polls at once with the new token", async () => {
  fake.failNext.push({ path: "/inbound", status: 409 });
  const p = await startPoller();
  await until(() => fake.polls.length > 0 && turnInFlight() === null);
  await p.stop();
  const before = fake.polls.length;
  const rotated = await startPoller({ config: { token: "yca_b", generation: 8 } });
  await until(() => fake.polls.length > before);
  assert.deepEqual(fake.polls.slice(before).map((x) => [x.token, x.generation])[0], ["yca_b", 8]);
  await rotated.stop();
});

test("a turn outlives a poller restart (config change) and acks with the newest token", async () => {
  let live = { apiUrl: fake.url, token: "yca_a", userId: "user-1", generation: 7 };
  let release;
  const p = await startPoller({
    getConfig: () => live,
    runTurn: async ({ deliver }) => {
      await new Promise((r) => { release = r; });
      await deliver({ text: "after rotation" });
    },
  });
  const id = fake.send("long one");
  await until(() => typeof release === "function");
  await p.stop(); // the channel restarts for a token rotation...
  live = { ...live, token: "yca_b", generation: 8 };
  release(); // ...and the turn still finishes
  await until(() => fake.acks.some((a) => a.id === id));
  assert.equal(fake.acks.find((a) => a.id === id).token, "yca_b");
  assert.equal(fake.outbound.get(`${id}:0`).token, "yca_b");
});

test("a turn that throws before replying is tried again before the ack", async () => {
  let calls = 0;
  const p = await startPoller({
    runTurn: async ({ deliver }) => {
      calls += 1;
      if (calls === 1) throw new Error("state database busy");
      await deliver({ text: "second time lucky" });
    },
  });
  p.poller.options.turnRetryDelayMs = 10;
  const id = fake.send("retry me");
  await until(() => fake.acks.some((a) => a.id === id));
  assert.equal(calls, 2);
  assert.equal(fake.outbound.get(`${id}:0`).text, "second time lucky");
  await p.stop();
});

test("a message handed to a poll that was already gone comes back when its lease runs out", async () => {
  // The fake, as the real control plane, cannot tell a poll whose client just left from a live one.
  // Queued and lost in one step: a waiting poll left by an earlier test must not take it first.
  fake.send("lost hand-out");
  const id = fake.loseNextHandOut();
  const p = await startPoller();
  await until(() => fake.acks.some((a) => a.id === id));
  assert.equal(p.turns.filter((t) => t.message.id === id).length, 1);
  await p.stop();
});
