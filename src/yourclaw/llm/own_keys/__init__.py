"""A user's own LLM key (BYOK): checked, stored encrypted, used by the metering proxy."""
