"""Migration 0021 (the fleet's indexes, found by bench.console_stations): at head the station log and rentals
have their newest-first indexes and not the single-column ones they replace; a downgrade to 0020 puts those
back, an upgrade again takes them away (SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect

from enerlectra.db import migrate
from enerlectra.db.engine import make_engine

AT_HEAD = {"station_log": {"ix_station_log_station_time": ["station_id", "created_at", "id"],
                           "ix_station_log_kind_time": ["kind", "created_at", "id"],
                           "ix_station_log_bank_newest": ["bank_id", "id"]},
           "rentals": {"ix_rentals_state_newest": ["state", "id"], "ix_rentals_station_newest": ["station_id", "id"],
                       "ix_rentals_user_newest": ["user_id", "id"]}}
AT_0020 = {"station_log": {"ix_station_log_station_id": ["station_id"], "ix_station_log_kind": ["kind"],
                           "ix_station_log_bank_id": ["bank_id"]},
           "rentals": {"ix_rentals_station_id": ["station_id"], "ix_rentals_user_id": ["user_id"]}}


async def _indexes(url: str, schema: str | None) -> dict[str, dict[str, list[str]]]:
    engine = make_engine(url, schema=schema)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: {
                table: {ix["name"]: ix["column_names"] for ix in inspect(c).get_indexes(table, schema=schema)}
                for table in AT_HEAD})
    finally:
        await engine.dispose()


def _holds(found: dict, wanted: dict) -> bool:
    return all(found[table].get(name) == columns for table, names in wanted.items()
               for name, columns in names.items())


def _lacks(found: dict, unwanted: dict) -> bool:
    return all(name not in found[table] for table, names in unwanted.items() for name in names)


@pytest.mark.parametrize("revision, present, absent", [("head", AT_HEAD, AT_0020), ("0020", AT_0020, AT_HEAD),
                                                       ("head", AT_HEAD, AT_0020)])
async def test_the_fleet_indexes_apply_and_downgrade(database, revision, present, absent):
    url, schema = database
    if revision == "head":
        await asyncio.to_thread(migrate.downgrade, url, "0020", schema)      # from below, as a deploy meets it
        await asyncio.to_thread(migrate.upgrade, url, "head", schema)
    else:
        await asyncio.to_thread(migrate.downgrade, url, revision, schema)
    found = await _indexes(url, schema)
    assert _holds(found, present) and _lacks(found, absent), found
