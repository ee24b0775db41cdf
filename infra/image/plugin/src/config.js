// `channels.yourclaw` in openclaw.json, as the control plane renders it (docs/assistant-protocol.md).
// The manifest's schema already rejects a malformed section at load time; this is the runtime's own check,
// so a section that slipped through (or a hand edit) stops the channel with a clear reason instead of
// polling with half a config.

export const CHANNEL_ID = "yourclaw";
export const ACCOUNT_ID = "default";

export class ChannelConfigError extends Error {}

/** The channel section, or undefined when there is none. */
export function channelSection(cfg) {
  const section = cfg?.channels?.[CHANNEL_ID];
  return section && typeof section === "object" ? section : undefined;
}

/** {apiUrl, token, userId, generation}, validated; throws ChannelConfigError. */
export function readChannelConfig(cfg) {
  const section = channelSection(cfg);
  if (!section) throw new ChannelConfigError("channels.yourclaw is missing");
  const { apiUrl, token, userId, generation } = section;
  let url;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new ChannelConfigError("channels.yourclaw.apiUrl must be an http(s) URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ChannelConfigError("channels.yourclaw.apiUrl must be an http(s) URL");
  }
  if (typeof token !== "string" || !token) throw new ChannelConfigError("channels.yourclaw.token is missing");
  if (typeof userId !== "string" || !userId) throw new ChannelConfigError("channels.yourclaw.userId is missing");
  if (!Number.isSafeInteger(generation) || generation < 0) {
    throw new ChannelConfigError("channels.yourclaw.generation must be a non-negative integer");
  }
  return Object.freeze({ apiUrl: apiUrl.replace(/\/+$/, ""), token, userId, generation });
}

/** Like readChannelConfig, but undefined instead of an error (diagnostics must not throw). */
export function tryReadChannelConfig(cfg) {
  try {
    return readChannelConfig(cfg);
  } catch {
    return undefined;
  }
}

/** The address OpenClaw records for the one user; `commands.ownerAllowFrom` names the same. */
export function userAddress(userId) {
  return `${CHANNEL_ID}:${userId}`;
}
