"""Power-bank stations, the station side of rentals (issue 20): what the cabinets tell us over station protocol
v1 (protocols.md s.12) applied to SQL, and eject requests made and settled.

- `wire`: a station message parsed and checked (topic, version, sid), commands built; nothing else trusted.
- `inventory`: heartbeats (the slot inventory is the truth), online/offline (status, last will, the sweep).
- `events`: evt messages once per evt_id: eject results, returns, faults, boots.
- `ejects`: an eject request under a row lock, its result, `eject_unknown` decided from the inventory.
- `hooks`: what the rental layer is told (ejected, eject_failed, returned); this package knows no rentals.
- `fleet`: stations added, listed and logged by operators (CLI, console), ejects stuck open.
- `by_hand`: an operator settles an eject the station never answered (audited, once).
"""
