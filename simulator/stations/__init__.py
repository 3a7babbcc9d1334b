"""A fake power-bank station fleet that speaks our station protocol v1 over a real MQTT broker (protocols.md s.12).

protocol: topics, envelopes and command checks; cabinet: slots, banks and their charge (no I/O); faults: the
failure modes a test or QA sets; station: one cabinet on MQTT; fleet: many stations, run together.
The fleet speaks MQTT only: it never imports the backend's station link.
"""
