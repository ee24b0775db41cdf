"""WhatsApp in and out: webhook, inbound queue, outbox and sender."""
