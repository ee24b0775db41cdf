// Everything the assistant says reaches WhatsApp through POST /outbound: replies during a turn and
// proactive messages (reminders, cron jobs, heartbeats, the message tool) alike. Media goes up first
// (POST /media → media_id). The control plane stores the message (unique on the Idempotency-Key) before
// its 202, so retrying with the same key is always safe.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { requestWithRetry } from "./http.js";

const MEDIA_TIMEOUT_MS = 120_000;

const TYPES_BY_EXTENSION = {
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".png": "image/png",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".pdf": "application/pdf",
  ".mp3": "audio/mpeg",
  ".ogg": "audio/ogg",
  ".opus": "audio/ogg",
  ".m4a": "audio/mp4",
  ".amr": "audio/amr",
  ".mp4": "video/mp4",
  ".3gp": "video/3gpp",
  ".txt": "text/plain",
  ".csv": "text/csv",
  ".vcf": "text/vcard",
};

export function contentTypeFor(name, fallback = "application/octet-stream") {
  return TYPES_BY_EXTENSION[path.extname(name || "").toLowerCase()] ?? fallback;
}

/** POST /outbound; resolves when stored (202). Throws HttpError on a final refusal (413/422, 401, 409). */
export async function postMessage(getConfig, { kind, text, mediaId, inReplyTo, key }, options = {}) {
  const body = { kind, text: text ?? "" };
  if (mediaId) body.media_id = mediaId;
  if (inReplyTo) body.in_reply_to = inReplyTo;
  await requestWithRetry(getConfig, "POST", "/outbound", {
    ...options,
    body,
    headers: { "Idempotency-Key": key },
  });
}

/** POST /media with the bytes; resolves the media_id. */
export async function uploadMedia(getConfig, { bytes, contentType }, options = {}) {
  const response = await requestWithRetry(getConfig, "POST", "/media", {
    ...options,
    timeoutMs: MEDIA_TIMEOUT_MS,
    body: bytes,
    headers: { "Content-Type": contentType || "application/octet-stream" },
  });
  const mediaId = JSON.parse(response.body.toString("utf8"))?.media_id;
  if (typeof mediaId !== "string" || !mediaId) throw new Error("POST /media answered without a media_id");
  return mediaId;
}

/**
 * The bytes behind a media reference OpenClaw hands a channel: a local path (what tools and the media
 * store produce), a file: URL, or an http(s) URL. `readLocal` is OpenClaw's policy-checked reader when
 * the send context offers one.
 */
export async function loadMedia(ref, { readLocal, signal } = {}) {
  if (/^https?:\/\//i.test(ref)) {
    const response = await fetch(ref, { signal: signal ?? AbortSignal.timeout(MEDIA_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`media download answered ${response.status}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    const header = response.headers.get("content-type")?.split(";")[0].trim();
    return { bytes, contentType: header || contentTypeFor(new URL(ref).pathname) };
  }
  const file = ref.startsWith("file:") ? fileURLToPath(ref) : ref;
  const bytes = readLocal ? await readLocal(file) : await readFile(file);
  return { bytes, contentType: contentTypeFor(file) };
}

/** Media references of an OpenClaw reply payload, in order, without duplicates. */
export function payloadMedia(payload) {
  const refs = [...(payload?.mediaUrls ?? []), ...(payload?.mediaUrl ? [payload.mediaUrl] : [])];
  return [...new Set(refs.filter((ref) => typeof ref === "string" && ref))];
}

/**
 * Sends one OpenClaw payload as one or more outbound messages: the text rides with the first medium
 * (WhatsApp shows it as the caption), each further medium is a message of its own. `nextKey()` gives the
 * Idempotency-Key of each message in order.
 */
export async function sendPayload(getConfig, { kind, text, media = [], inReplyTo, nextKey, readLocal }, options = {}) {
  if (media.length === 0) {
    if (!text?.trim()) return 0;
    await postMessage(getConfig, { kind, text, inReplyTo, key: nextKey() }, options);
    return 1;
  }
  let sent = 0;
  for (const [index, ref] of media.entries()) {
    const key = nextKey();
    const loaded = await loadMedia(ref, { readLocal });
    const mediaId = await uploadMedia(getConfig, loaded, options);
    await postMessage(getConfig, { kind, text: index === 0 ? text : "", mediaId, inReplyTo, key }, options);
    sent += 1;
  }
  return sent;
}
