"""The credits ledger every domain shares: allowance, spend, and the notices about them."""
