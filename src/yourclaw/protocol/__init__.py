"""The assistant protocol (docs/assistant-protocol.md): assistant tokens and their auth, the long poll, leases and acks, outbound messages and media."""  # noqa: E501
