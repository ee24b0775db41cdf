"""WhatsApp in: Twilio's webhook, the stored messages, and the router that sends each to its assistant or answers it."""
