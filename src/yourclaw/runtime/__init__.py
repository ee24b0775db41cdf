"""Docker hosts: mutual-TLS clients and certificates, reconciliation, placement."""
