"""Stripe subscriptions, the credits ledger and users' own keys."""
