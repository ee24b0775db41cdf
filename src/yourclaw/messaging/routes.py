"""Routes of the inbound side: Twilio's webhooks and the dashboard's conversation and usage views. The
WhatsApp webhook itself is a bare route (`inbound_webhook`, mounted by `app.create_app`)."""

from __future__ import annotations

from yourclaw.messaging.twilio.webhooks import TwilioWebhookController
from yourclaw.messaging.views_controller import MessagingViewsController

HANDLERS: list = [TwilioWebhookController, MessagingViewsController]
