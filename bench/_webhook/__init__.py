"""The parts of bench/webhook.py: signed webhook requests and the load generator that sends them, the bare
asyncpg ceiling, the timed Twilio and assistant stand-ins, the seeded rows, and the two parts' measurements.
Imported by the entry script, which puts the project root on sys.path first (for `tests.harness`)."""
