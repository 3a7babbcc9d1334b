"""Local sandboxes of the mobile-money providers: each speaks its provider's documented API on a
loopback port, so `enerlectra serve` deposits and withdraws with no credentials."""
