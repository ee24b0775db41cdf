// The yourclaw OpenClaw channel plugin: the assistant side of docs/assistant-protocol.md.
import { defineChannelPluginEntry } from "openclaw/plugin-sdk/channel-core";

import { setPluginRuntime, yourclawPlugin } from "./src/channel.js";

export default defineChannelPluginEntry({
  id: "yourclaw",
  name: "YourClaw",
  description: "The user's WhatsApp conversation, carried by the YourClaw control plane.",
  plugin: yourclawPlugin,
  setRuntime: setPluginRuntime,
});
