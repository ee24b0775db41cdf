"""WhatsApp out: the outbox every message goes through, the sender, the 24-hour window and quiet hours."""
