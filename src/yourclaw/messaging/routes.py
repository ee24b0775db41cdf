"""The routes of messaging: Twilio's delivery status callbacks and the dashboard's conversation and usage
views. Incoming WhatsApp messages come through a bare route (`inbound.webhook.WhatsAppWebhook` at
`twilio.webhooks.WHATSAPP_PATH`), which the app mounts once the process's state exists."""

from __future__ import annotations

from yourclaw.messaging.outbound.status_webhook import TwilioWebhookController
from yourclaw.messaging.views_controller import MessagingViewsController

HANDLERS: list = [TwilioWebhookController, MessagingViewsController]
