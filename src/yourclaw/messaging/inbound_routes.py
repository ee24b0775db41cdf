"""Routes of the inbound side: Twilio's webhooks and the dashboard's conversation and usage views."""

from __future__ import annotations

from yourclaw.messaging.inbound_webhook import twilio_whatsapp_webhook
from yourclaw.messaging.views_controller import MessagingViewsController
from yourclaw.messaging.webhook_controller import TwilioWebhookController

HANDLERS: list = [twilio_whatsapp_webhook, TwilioWebhookController, MessagingViewsController]
