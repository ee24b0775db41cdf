"""YourClaw: your own always-on OpenClaw assistant on WhatsApp."""

__version__ = "0.1.0"
