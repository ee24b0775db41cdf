"""The assistants API: the user's desired state only; the reconciler makes it so."""
