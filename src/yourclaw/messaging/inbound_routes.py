"""Routes of the inbound side: Twilio's webhooks and the dashboard's conversation and usage views. The
WhatsApp webhook itself is a bare route (`inbound_webhook`, mounted by `app.create_app`)."""

from __future__ import annotations

from yourclaw.messaging.views_controller import MessagingViewsController
from yourclaw.messaging.webhook_controller import TwilioWebhookController

HANDLERS: list = [TwilioWebhookController, MessagingViewsController]
