"""The everyday senses an assistant gets through the control plane, never with a key of its own: web search
(a Brave-compatible proxy) and voice-note transcription (an OpenAI-compatible proxy). Each authenticates the
assistant token, adds the shared key, caps use per user and day, and charges the credits."""
