"""Aggregator adapters: wire format in, UssdRequest to the engine, wire format out."""
