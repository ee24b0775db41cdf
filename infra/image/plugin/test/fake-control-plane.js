// A tiny control plane speaking docs/assistant-protocol.md, for the plugin's tests (and for a gateway run
// by hand: `node test/fake-control-plane.js 8787`). It also plays the Anthropic Messages API behind
// /llm/anthropic (streaming SSE, echoing the last user text), as our metering proxy would pass it through.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";

export class FakeControlPlane {
  constructor({ tokens = ["yca_test"], pollWaitCapMs = 25_000, leaseMs = 120_000 } = {}) {
    this.tokens = new Set(tokens);
    this.pollWaitCapMs = pollWaitCapMs;
    this.leaseMs = leaseMs;
    this.queue = []; // messages not yet handed out
    this.inFlight = null;
    this.leaseUntil = 0; // the message in flight comes back after this, unless acked or extended
    this.polls = []; // {generation, instanceId, token, status}
    this.acks = [];
    this.extends = [];
    this.outbound = new Map(); // Idempotency-Key → body (first write wins, as the real outbox)
    this.outboundAttempts = [];
    this.media = new Map();
    this.llmRequests = [];
    this.automationReports = []; // every PUT /automations body, in order
    this.failNext = []; // [{path prefix, status}] injected failures, used once each
    this.instance = null;
    this.waiters = new Set();
    this.server = createServer((req, res) => this.#handle(req, res).catch((err) => {
      res.writeHead(500).end(String(err));
    }));
  }

  async start(port = 0, host = "127.0.0.1") {
    await new Promise((resolve) => this.server.listen(port, host, resolve));
    this.url = `http://${host}:${this.server.address().port}`;
    return this;
  }

  async stop() {
    for (const wake of this.waiters) wake();
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Queues an inbound message; resolves its id. */
  send(text, { id = randomUUID(), media = [] } = {}) {
    this.queue.push({ id, from: "user-1", text, media, received_at: new Date().toISOString() });
    for (const wake of this.waiters) wake();
    return id;
  }

  /** Hands the next message out to nobody, as to a poll whose client had already gone; resolves its id. */
  loseNextHandOut() {
    return this.#handOut().id;
  }

  #handOut() {
    this.inFlight = this.queue.shift();
    this.leaseUntil = Date.now() + this.leaseMs;
    return this.inFlight;
  }

  /** Makes the message in flight come back (as an expired lease does). */
  redeliver() {
    if (this.inFlight) this.queue.unshift(this.inFlight);
    this.inFlight = null;
    for (const wake of this.waiters) wake();
  }

  storeMedia(bytes, contentType) {
    const id = randomUUID();
    this.media.set(id, { bytes, contentType });
    return `${this.url}/media/${id}`;
  }

  async #handle(req, res) {
    const url = new URL(req.url, "http://x");
    const body = await readBody(req);
    if (url.pathname.startsWith("/media/")) return this.#serveMedia(url, res);
    if (url.pathname === "/llm/anthropic/v1/messages") return this.#llm(req, body, res);
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    const path = url.pathname.replace(/^\/api\/v1\/runtime/, "");
    const injected = this.failNext.findIndex((f) => path.startsWith(f.path));
    if (injected !== -1) {
      const [{ status }] = this.failNext.splice(injected, 1);
      if (path === "/outbound") this.outboundAttempts.push({ key: req.headers["idempotency-key"], status });
      return json(res, status, { detail: "injected", code: "INJECTED" });
    }
    if (!this.tokens.has(token)) return json(res, 401, { detail: "unknown token", code: "INVALID_ASSISTANT_TOKEN" });
    if (req.method === "GET" && path === "/inbound") return this.#poll(req, url, token, res);
    let match = path.match(/^\/inbound\/([^/]+)\/(ack|extend)$/);
    if (req.method === "POST" && match) {
      const [, id, action] = match;
      (action === "ack" ? this.acks : this.extends).push({ id, token });
      if (action === "extend" && this.inFlight?.id === id) this.leaseUntil = Date.now() + this.leaseMs;
      if (action === "ack") {
        this.queue = this.queue.filter((m) => m.id !== id); // handed out again after its lease, now done
        if (this.inFlight?.id === id) this.inFlight = null;
        for (const wake of this.waiters) wake();
      }
      return res.writeHead(204).end();
    }
    if (req.method === "POST" && path === "/outbound") {
      const key = req.headers["idempotency-key"];
      this.outboundAttempts.push({ key, status: 202 });
      if (!this.outbound.has(key)) this.outbound.set(key, { ...JSON.parse(body.toString("utf8")), token });
      return json(res, 202, { status: "stored" });
    }
    if (req.method === "PUT" && path === "/automations") {
      this.automationReports.push({ ...JSON.parse(body.toString("utf8")), token });
      return json(res, 200, { count: this.automationReports.at(-1).automations.length });
    }
    if (req.method === "POST" && path === "/media") {
      const id = randomUUID();
      this.media.set(id, { bytes: body, contentType: req.headers["content-type"] });
      return json(res, 201, { media_id: id });
    }
    return json(res, 404, { detail: "not found", code: "NOT_FOUND" });
  }

  async #poll(req, url, token, res) {
    const instanceId = req.headers["x-instance-id"];
    const generation = Number(req.headers["x-config-generation"]);
    if (this.instance && this.instance !== instanceId && this.supersede) {
      this.polls.push({ generation, instanceId, token, status: 409 });
      return json(res, 409, { detail: "another instance", code: "INSTANCE_SUPERSEDED" });
    }
    this.instance = instanceId;
    const deadline = Date.now() + Math.min(Number(url.searchParams.get("wait") ?? 25) * 1000, this.pollWaitCapMs);
    for (;;) {
      // As the real lease: a hand-out nobody acts on (its poll was already gone, say) comes back.
      if (this.inFlight && Date.now() > this.leaseUntil) this.redeliver();
      if (!this.inFlight && this.queue.length) {
        const message = this.#handOut();
        this.polls.push({ generation, instanceId, token, status: 200 });
        return json(res, 200, { messages: [message] });
      }
      const left = deadline - Date.now();
      if (left <= 0 || res.destroyed) break;
      await new Promise((resolve) => {
        const timer = setTimeout(done, left);
        const onClose = () => done();
        function done() {
          clearTimeout(timer);
          res.off("close", onClose);
          resolve();
        }
        this.waiters.add(done);
        res.once("close", onClose);
      });
    }
    this.polls.push({ generation, instanceId, token, status: 204 });
    if (!res.destroyed) res.writeHead(204).end();
  }

  #serveMedia(url, res) {
    const item = this.media.get(url.pathname.slice("/media/".length));
    if (!item) return json(res, 404, { detail: "no such media" });
    res.writeHead(200, { "Content-Type": item.contentType }).end(item.bytes);
  }

  #llm(req, body, res) {
    const request = JSON.parse(body.toString("utf8"));
    this.llmRequests.push({ key: req.headers["x-api-key"], model: request.model, body: request });
    const last = [...request.messages].reverse().find((m) => m.role === "user");
    const text = typeof last?.content === "string" ? last.content
      : (last?.content ?? []).filter((b) => b.type === "text").map((b) => b.text).join(" ");
    const answer = `echo: ${text.trim().split("\n").at(-1)}`;
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    const event = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    event("message_start", { message: { id: `msg_${randomUUID()}`, type: "message", role: "assistant", model: request.model, content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } } });
    event("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
    event("content_block_delta", { index: 0, delta: { type: "text_delta", text: answer } });
    event("content_block_stop", { index: 0 });
    event("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 5 } });
    event("message_stop", {});
    res.end();
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function json(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fake = await new FakeControlPlane({ tokens: (process.env.FAKE_TOKENS ?? "yca_test").split(",") }).start(Number(process.argv[2] ?? 8787), process.argv[3]);
  console.log(`fake control plane on ${fake.url}`);
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (line) => {
    const text = line.trim();
    if (text === "dump") console.log(JSON.stringify({ polls: fake.polls.slice(-5), acks: fake.acks, outbound: [...fake.outbound], llm: fake.llmRequests.map((r) => r.model) }, null, 1));
    else if (text.startsWith("token ")) fake.tokens.add(text.slice(6));
    else if (text) console.log(`queued ${fake.send(text)}`);
  });
}
