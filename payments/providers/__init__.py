"""One module per mobile-money provider, each speaking its own documented API."""
