// The yourclaw OpenClaw channel plugin: the assistant side of docs/assistant-protocol.md.
import { defineChannelPluginEntry } from "openclaw/plugin-sdk/channel-core";

import { registerAutomationReports } from "./src/automations.js";
import { channelConfigFor, setPluginRuntime, yourclawPlugin } from "./src/channel.js";

export default defineChannelPluginEntry({
  id: "yourclaw",
  name: "YourClaw",
  description: "The user's WhatsApp conversation, carried by the YourClaw control plane.",
  plugin: yourclawPlugin,
  setRuntime: setPluginRuntime,
  // The gateway's hooks (full runtime only): the reminders and watchers the assistant set up, reported.
  registerFull(api) {
    // Also called for tool discovery, a load that runs no gateway.
    if (api.registrationMode === "full") registerAutomationReports(api, { channelConfig: channelConfigFor });
  },
});
