"""The routes of senses, outside /api/v1: assistants name them as their search provider's and their
transcriber's base URLs."""

from __future__ import annotations

from yourclaw.senses.search import SearchController
from yourclaw.senses.transcription import TranscriptionController

ROOT_HANDLERS: list = [SearchController, TranscriptionController]
