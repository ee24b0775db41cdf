// The `yourclaw` channel: the assistant's only channel, with exactly one peer (the user). Inbound runs as
// the channel's account monitor (gateway.startAccount), so `reload.configPrefixes: ["channels.yourclaw"]`
// makes a token rotation or a generation bump restart this channel alone — a fresh poll with the new
// token at once — and never the gateway (which would cut running turns). Outbound: every send OpenClaw
// makes on this channel (replies, cron, heartbeats, the message tool) becomes a POST /outbound.
import { randomBytes, randomUUID } from "node:crypto";
import nodeModule from "node:module";
import { hostname } from "node:os";
import path from "node:path";

import { createChannelPluginBase, createChatChannelPlugin } from "openclaw/plugin-sdk/channel-core";
import {
  dispatchInboundDirectDmWithRuntime,
  formatInboundMediaUnavailableText,
  toInboundMediaFactsWithMetadata,
} from "openclaw/plugin-sdk/channel-inbound";
import { createRuntimeConfigReader } from "openclaw/plugin-sdk/runtime-config-snapshot";

import { ACCOUNT_ID, CHANNEL_ID, channelSection, readChannelConfig, tryReadChannelConfig, userAddress } from "./config.js";
import { FinishedIds } from "./finished.js";
import { describe } from "./http.js";
import { sendPayload } from "./outbound.js";
import { Poller } from "./poller.js";
import { savedContentType } from "./turn.js";

// The control plane splits long texts for WhatsApp itself and accepts up to 20,000 characters.
const TEXT_CHUNK_LIMIT = 20_000;

// Per process, not per channel restart: Docker sets the hostname to the container's short id, so the
// prefix tells the control plane which container polls; the random part changes on every gateway start.
export const INSTANCE_ID = `${hostname().replace(/[^A-Za-z0-9_-]/g, "").slice(0, 40) || "openclaw"}-${randomBytes(8).toString("hex")}`;

let pluginRuntime;
let liveConfig; // the newest channel config a monitor started with: retries and ack use its token

export function setPluginRuntime(runtime) {
  pluginRuntime = runtime;
}

/** The channel config to send with: the newest one a monitor started with, else the one in `cfg` (throws
 * ChannelConfigError when there is none). */
export function channelConfigFor(cfg) {
  return liveConfig ?? readChannelConfig(cfg);
}

/** The config to send with: the newest started one, else the one of the send's own context. */
function configGetter(cfg) {
  const fallback = readChannelConfig(cfg);
  return () => liveConfig ?? fallback;
}

function resolveAccount(cfg, accountId) {
  const config = tryReadChannelConfig(cfg);
  return { accountId: accountId ?? ACCOUNT_ID, enabled: Boolean(channelSection(cfg)), configured: Boolean(config), config };
}

function stateDir() {
  return pluginRuntime?.state?.resolveStateDir?.() ?? process.env.OPENCLAW_STATE_DIR ?? path.join(process.env.HOME ?? "/home/node", ".openclaw");
}

/** Proactive sends carry OpenClaw's durable delivery id when it has one, so its own retries dedupe too. */
function proactiveKey(ctx) {
  return ctx.deliveryQueueId ? `oc:${ctx.deliveryQueueId}:${ctx.deliveryPartIndex ?? 0}` : `oc:${randomUUID()}`;
}

async function sendProactive(ctx, media) {
  const getConfig = configGetter(ctx.cfg);
  let index = 0;
  const base = proactiveKey(ctx);
  const nextKey = () => (index++ === 0 ? base : `${base}:${index - 1}`);
  await sendPayload(getConfig, {
    kind: "proactive",
    text: ctx.text ?? "",
    media,
    nextKey,
    readLocal: ctx.mediaReadFile,
  }, { signal: ctx.signal });
  return { channel: CHANNEL_ID, messageId: base };
}

const MEDIA_UNAVAILABLE = "[an attachment could not be downloaded]";

/**
 * The message's attachments as the SDK's inbound media facts (`toInboundMediaFacts`, with the audio/video
 * metadata it probes), in order: the ones saved locally with their path, then one type-only fact for each
 * that could not be downloaded, as the SDK asks of undownloaded native attachments.
 */
export async function inboundMedia(message, saved) {
  const messageId = String(message.id);
  const offered = Array.isArray(message.media) ? message.media : [];
  const inputs = saved.map((item) => ({ path: item.path, contentType: item.contentType, messageId }));
  for (const item of offered.slice(saved.length)) inputs.push({ contentType: item?.content_type ?? null, messageId });
  return inputs.length ? toInboundMediaFactsWithMetadata(inputs) : [];
}

async function runMonitor(ctx) {
  const config = readChannelConfig(ctx.cfg); // throws a clear reason: the channel then shows as errored
  liveConfig = config;
  const log = ctx.log;
  const readCfg = createRuntimeConfigReader(ctx.cfg);
  const finished = await new FinishedIds(path.join(stateDir(), "yourclaw", "finished.json")).load();
  const setStatus = (patch) => ctx.setStatus({ ...ctx.getStatus(), accountId: ACCOUNT_ID, running: true, ...patch });
  const poller = new Poller({
    config,
    getConfig: () => liveConfig ?? config,
    instanceId: INSTANCE_ID,
    finished,
    log,
    setStatus,
    saveMedia: async (bytes, contentType) => {
      const saved = await pluginRuntime.channel.media.saveMediaBuffer(bytes, contentType, "inbound");
      return { path: saved.path, contentType: savedContentType(saved.contentType, contentType) };
    },
    runTurn: async ({ message, mediaFacts, deliver, mediaMissing }) => {
      const media = await inboundMedia(message, mediaFacts);
      const text = String(message.text ?? "");
      return dispatchInboundDirectDmWithRuntime({
        cfg: readCfg(),
        runtime: pluginRuntime,
        channel: CHANNEL_ID,
        channelLabel: "WhatsApp",
        accountId: ACCOUNT_ID,
        peer: { kind: "direct", id: config.userId },
        senderId: config.userId,
        senderAddress: userAddress(config.userId),
        recipientAddress: `${CHANNEL_ID}:assistant`,
        conversationLabel: "WhatsApp",
        // A voice note or a picture alone keeps the body empty: the media facts carry it.
        rawBody: mediaMissing ? formatInboundMediaUnavailableText({ body: text, notice: MEDIA_UNAVAILABLE }) : text,
        messageId: String(message.id),
        timestamp: Date.parse(message.received_at) || Date.now(),
        // The one peer is the owner of this assistant: the control plane already checked who wrote.
        channelIngress: "unsupported",
        inboundAccessAuthorized: true,
        commandAuthorized: true,
        // The ordered media facts go in the context's `media` field, which the SDK's finalizeInboundContext
        // (called by the dispatch) turns into what the model sees: images as image blocks, audio transcribed.
        ...(media.length ? { extraContext: { media } } : {}),
        deliver,
        onRecordError: (err) => log?.warn?.(`yourclaw: session record failed (${describe(err)})`),
        onDispatchError: (err, info) => log?.error?.(`yourclaw: ${info?.kind ?? "reply"} delivery failed (${describe(err)})`),
      });
    },
  });
  log?.info?.(`yourclaw: polling as ${INSTANCE_ID} at generation ${config.generation}`);
  // The gateway's start-up modules are loaded by now: Node's compile cache (on the volume, NODE_COMPILE_CACHE in
  // the image) is written at once, so the next container on this volume finds them compiled however this one ends.
  try {
    nodeModule.flushCompileCache?.();
  } catch {
    // Only an optimisation.
  }
  setStatus({ connected: false, lastError: null });
  await poller.run(ctx.abortSignal);
  setStatus({ running: false, connected: false });
}

const base = createChannelPluginBase({
  id: CHANNEL_ID,
  meta: {
    id: CHANNEL_ID,
    label: "YourClaw",
    selectionLabel: "YourClaw (WhatsApp)",
    detailLabel: "WhatsApp through the YourClaw control plane",
    docsPath: "/channels/yourclaw",
    blurb: "The user's WhatsApp conversation, carried by the YourClaw control plane.",
  },
  capabilities: { chatTypes: ["direct"], media: true, reactions: false, threads: false, nativeCommands: false },
  reload: { configPrefixes: [`channels.${CHANNEL_ID}`] },
  config: {
    listAccountIds: () => [ACCOUNT_ID],
    defaultAccountId: () => ACCOUNT_ID,
    resolveAccount,
    inspectAccount: (cfg) => {
      const configured = Boolean(tryReadChannelConfig(cfg));
      return { enabled: Boolean(channelSection(cfg)), configured, tokenStatus: configured ? "available" : "missing" };
    },
    isEnabled: (account) => account.enabled,
    isConfigured: (account) => account.configured,
    unconfiguredReason: () => "channels.yourclaw needs apiUrl, token, userId and generation",
    // There is one recipient: whatever the agent names, its messages go to the user.
    resolveDefaultTo: ({ cfg }) => {
      const config = tryReadChannelConfig(cfg);
      return config ? userAddress(config.userId) : undefined;
    },
    resolveAllowFrom: ({ cfg }) => {
      const config = tryReadChannelConfig(cfg);
      return config ? [config.userId] : [];
    },
  },
});

export const yourclawPlugin = {
  ...createChatChannelPlugin({
    base,
    outbound: {
      deliveryMode: "direct",
      textChunkLimit: TEXT_CHUNK_LIMIT,
      sendText: (ctx) => sendProactive(ctx, []),
      sendMedia: (ctx) => sendProactive(ctx, ctx.mediaUrl ? [ctx.mediaUrl] : []),
    },
  }),
  messaging: {
    targetPrefixes: [CHANNEL_ID],
    normalizeTarget: (raw) => {
      const value = String(raw ?? "").trim().replace(/^yourclaw:/i, "").replace(/^user:/i, "");
      return value ? userAddress(value) : undefined;
    },
    inferTargetChatType: () => "direct",
    targetResolver: { looksLikeId: (value) => Boolean(String(value ?? "").trim()), hint: "<user id>" },
  },
  gateway: { startAccount: runMonitor },
};
