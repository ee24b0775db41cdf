"""Routes of the inbound side: Twilio's webhooks and the dashboard's conversation and usage views."""

from __future__ import annotations

from yourclaw.messaging.views_controller import MessagingViewsController
from yourclaw.messaging.webhook_controller import TwilioWebhookController

HANDLERS: list = [TwilioWebhookController, MessagingViewsController]
