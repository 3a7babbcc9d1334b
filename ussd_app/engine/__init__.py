"""The USSD engine: one hop from a parsed request to a reply, independent of any aggregator."""
