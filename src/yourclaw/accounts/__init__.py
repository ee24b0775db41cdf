"""User accounts: who is signed in (tokens and the browser's session), users, and their WhatsApp number."""
