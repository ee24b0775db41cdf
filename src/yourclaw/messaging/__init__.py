"""WhatsApp in and out: the webhook and router (`inbound`), the outbox and sender (`outbound`), Twilio
itself (`twilio`), and the user's conversation and usage views."""
