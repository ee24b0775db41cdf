// One inbound message, end to end: download its media, hand it to OpenClaw and wait for the whole turn
// (renewing the lease meanwhile), post every reply part, remember it as finished, then ack. The ack comes
// last so that a crash anywhere before it means redelivery, and the finished-ids file means a redelivered
// message that did finish is only acked again.
import { describe, HttpError, request, requestWithRetry, sleep } from "./http.js";
import { contentTypeFor, payloadMedia, sendPayload } from "./outbound.js";

export const EXTEND_INTERVAL_MS = 10_000;
export const TURN_ATTEMPTS = 3;
const TURN_RETRY_DELAY_MS = 3_000;
const MEDIA_DOWNLOAD_TIMEOUT_MS = 120_000;

// What OpenClaw's media store sniffs when the bytes name only their container: an Ogg stream without an
// Opus or Vorbis header it knows is "application/ogg", which OpenClaw then treats as a document instead of
// audio to transcribe. The type the control plane passes on (WhatsApp's, audio/ogg for a voice note) is
// the better one then.
const CONTAINER_ONLY_TYPES = new Set(["application/ogg", "application/octet-stream"]);

/** The type of a saved attachment: OpenClaw's sniffed one, unless it names only the container. */
export function savedContentType(sniffed, declared) {
  if (!sniffed) return declared;
  return CONTAINER_ONLY_TYPES.has(sniffed) && declared && !CONTAINER_ONLY_TYPES.has(declared) ? declared : sniffed;
}

/** Downloads our signed media URLs (no auth: the signature is the permission) and stores them. */
export async function fetchInboundMedia(media, { save, signal }) {
  const saved = [];
  for (const item of Array.isArray(media) ? media : []) {
    if (typeof item?.url !== "string") continue;
    const signals = [AbortSignal.timeout(MEDIA_DOWNLOAD_TIMEOUT_MS), ...(signal ? [signal] : [])];
    const response = await fetch(item.url, { signal: AbortSignal.any(signals) });
    if (!response.ok) throw new Error(`inbound media download answered ${response.status}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    const contentType = item.content_type || response.headers.get("content-type")?.split(";")[0] || undefined;
    saved.push(await save(bytes, contentType ?? contentTypeFor(new URL(item.url).pathname)));
  }
  return saved;
}

/**
 * Runs the turn for `message` and acks it. Options: `getConfig` (the live channel config), `finished`
 * (FinishedIds), `runTurn({message, mediaFacts, deliver})` (hands it to OpenClaw, resolves when the turn
 * ended), `saveMedia(bytes, contentType)` → {path, contentType}, `log`, `signal` (cuts retries on stop),
 * `extendIntervalMs`.
 * Resolves "acked" | "skipped" (redelivered, acked again) | "failed" (no ack: the lease runs out and the
 * message comes back).
 */
export async function handleMessage(message, options) {
  const { getConfig, finished, runTurn, saveMedia, log, signal } = options;
  const id = String(message.id);
  if (finished.has(id)) {
    log?.info?.(`yourclaw: message ${id} was already answered, acking it again`);
    await ack(getConfig, id, { log, signal });
    return "skipped";
  }

  const stopExtending = extendWhile(getConfig, id, { log, interval: options.extendIntervalMs ?? EXTEND_INTERVAL_MS });
  let part = 0;
  const nextKey = () => `${id}:${part++}`;
  const deliver = async (payload) => {
    // Awaited by OpenClaw: the reply is stored by the control plane before the turn goes on.
    await sendPayload(
      getConfig,
      { kind: "reply", text: payload?.text ?? "", media: payloadMedia(payload), inReplyTo: id, nextKey },
      { log, signal },
    );
  };
  try {
    let mediaFacts = [];
    try {
      mediaFacts = await fetchInboundMedia(message.media, { save: saveMedia, signal });
    } catch (err) {
      // The text still matters; the agent is told the attachment did not come through.
      log?.warn?.(`yourclaw: media of message ${id} could not be fetched (${describe(err)})`);
    }
    const mediaMissing = mediaFacts.length < (message.media?.length ?? 0);
    for (let attempt = 1; ; attempt += 1) {
      try {
        await runTurn({ message, mediaFacts, deliver, mediaMissing });
        break;
      } catch (err) {
        // A turn that threw before saying anything is retried: such errors are mostly transient (the
        // gateway's state database busy at start-up, a restart). Once a reply went out, or after the last
        // attempt, the message is acked anyway: a turn that keeps failing would hold up every later
        // message of this user (one in flight at a time), and OpenClaw reports agent errors as replies.
        if (signal?.aborted) return "failed";
        const retry = part === 0 && attempt < TURN_ATTEMPTS;
        log?.error?.(`yourclaw: turn for message ${id} failed (${describe(err)})${retry ? ", trying again" : ""}`);
        if (!retry) break;
        await sleep((options.turnRetryDelayMs ?? TURN_RETRY_DELAY_MS) * attempt, signal);
      }
    }
  } finally {
    stopExtending();
  }
  if (signal?.aborted && part === 0) return "failed";
  await finished.add(id);
  await ack(getConfig, id, { log, signal });
  return "acked";
}

async function ack(getConfig, id, { log, signal }) {
  try {
    await requestWithRetry(getConfig, "POST", `/inbound/${encodeURIComponent(id)}/ack`, { signal, log, deadlineMs: 120_000 });
  } catch (err) {
    // The lease runs out and the message comes back; the finished-ids file turns that into an ack.
    log?.warn?.(`yourclaw: ack of message ${id} failed (${describe(err)})`);
  }
}

/** Renews the lease every `interval` until the returned function is called. */
function extendWhile(getConfig, id, { log, interval }) {
  let inFlight = false;
  const timer = setInterval(async () => {
    if (inFlight) return;
    inFlight = true;
    try {
      const { status } = await request(getConfig(), "POST", `/inbound/${encodeURIComponent(id)}/extend`, { timeoutMs: interval });
      if (status >= 400) log?.warn?.(`yourclaw: lease of message ${id} not extended (${describe(new HttpError(status))})`);
    } catch (err) {
      log?.warn?.(`yourclaw: lease of message ${id} not extended (${describe(err)})`); // the next tick may get through
    } finally {
      inFlight = false;
    }
  }, interval);
  timer.unref?.();
  return () => clearInterval(timer);
}
