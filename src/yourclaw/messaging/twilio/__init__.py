"""Twilio itself: the SDK client, webhook signatures and the webhooks' forms."""
