"""The user's own data: the export of everything we hold about them, and the deletion of their account."""
