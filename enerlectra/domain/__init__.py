"""Domain services: plain async functions over SQL; no HTTP, no aggregator quirks."""
