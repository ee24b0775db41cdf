"""The web product: the pages (static HTML and small JavaScript modules that call /api/v1 like any client),
the public configuration they read, the verification QR code, and the account overview they show."""
