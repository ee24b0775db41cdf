"""Basics every package may use: errors, secrets at rest, logs, request context, settings. Imports nothing of ours outside itself."""  # noqa: E501
