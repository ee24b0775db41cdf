"""User accounts: identity, sign-in and token verification."""
