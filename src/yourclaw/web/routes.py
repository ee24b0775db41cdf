"""What the web product adds to the app: API handlers under /api/v1 and the pages with their assets."""

from __future__ import annotations

from yourclaw.accounts.session_controller import SessionController
from yourclaw.kit.settings import Settings
from yourclaw.web import pages
from yourclaw.web.config import config, simulator_enabled
from yourclaw.web.qr import VerificationQrController


def api_handlers(settings: Settings) -> list:
    handlers: list = [SessionController, config, VerificationQrController]
    if simulator_enabled(settings):
        from yourclaw.standins.whatsapp_simulator import SimulatorController

        handlers.append(SimulatorController)
    return handlers


def page_routes(settings: Settings) -> list:
    return pages.web_routes(settings)
