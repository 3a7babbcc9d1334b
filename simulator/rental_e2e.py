"""A power-bank rental end to end through `enerlectra serve`, as an operator would try it (issue 20):

    .venv/bin/python -m simulator.rental_e2e [--mqtt mqtt://127.0.0.1:PORT] [--workers 2]

In a fresh home: two Tanzanian stations registered with `enerlectra stations add`; `serve --workers N` on
embedded defaults (its own embedded MQTT broker, or the broker --mqtt names, e.g. a Mosquitto); a fake fleet
(simulator/stations) on that broker; a user registers by USSD, is credited by `enerlectra ledger credit`, rents
at 4601 with the PIN, takes the bank from the slot the screen names, and returns it at 4602. The station's
return event, through the station link, settles the rental: the receipt SMS is in the outbox and `enerlectra
ledger verify` is clean. Prints each step; exit 0 when every check held.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulator import load
from simulator.phone import Phone
from simulator.stations.fleet import Fleet, StationSpec
from simulator.transport import connect

MSISDN, PIN = "+255754000611", "6248"
STATIONS = [StationSpec("4601", "Kariakoo Soko", "Dar es Salaam", 4, 2),
            StationSpec("4602", "Posta Mpya", "Dar es Salaam", 4, 1)]
TIMEOUT = 30.0


class Failed(Exception):
    pass


def cli(home: Path, env: dict[str, str], *argv: str) -> str:
    """`enerlectra ARGV` against the server's home; its stdout (Failed on a non-zero exit)."""
    inherited = {k: v for k, v in os.environ.items() if k not in load.NOT_INHERITED}    # the server's own stores
    done = subprocess.run([sys.executable, "-m", "ussd_app.cli", *argv], capture_output=True, text=True,
                          env={**inherited, **env, "ENERLECTRA_HOME": str(home)}, timeout=120)
    if done.returncode != 0:
        raise Failed(f"enerlectra {' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
    return done.stdout


async def until(what: str, check, seconds: float = TIMEOUT):
    """`check()` (a blocking call, run off the loop) until it returns something true; Failed after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(check)
        if found:
            return found
        await asyncio.sleep(0.5)
    raise Failed(f"{what}: not within {seconds:.0f} s")


def expect(reply, *fragments: str) -> str:
    text = str(reply)
    missing = [f for f in fragments if f not in text]
    if missing:
        raise Failed(f"expected {missing} on the screen:\n{text}")
    return text


async def rent_and_return(home: Path, env: dict[str, str], server: load.Server, mqtt_url: str, out=print) -> None:
    online = re.compile(r"^(4601|4602)\s.*\sonline\s", re.M)
    fleet = Fleet(STATIONS, mqtt_url, heartbeat_seconds=5)
    for spec in STATIONS:                       # charged banks: the fleet's own mix would leave some flat
        for n in range(1, spec.banks + 1):
            fleet.station(spec.code).cabinet.load(n, f"PB{int(spec.code):06d}{n:02d}", 100)
    async with fleet, connect(server.url.rsplit("/ussd/", 1)[0]) as transport:
        await until("both stations online", lambda: len(online.findall(cli(home, env, "stations", "list"))) == 2)
        out("stations 4601 and 4602 online (heartbeats through the broker, applied by the station link)")
        phone = Phone(transport, MSISDN)
        await phone.dial()
        for text in ("4", "Neema", PIN):
            await phone.send(text)
        expect(await phone.send(PIN), "7 ")
        out(cli(home, env, "ledger", "credit", MSISDN, "20000", "--reason", "e2e pilot", "--key", "e2e-1").strip())
        await phone.dial("*123*7#")
        expect(await phone.send("1"), "kituo")                  # "type the station code" (Swahili: a TZ number)
        expect(await phone.send("4601"), "Kariakoo Soko", "TSh")
        expect(await phone.send("1"), "PIN")
        taken = expect(await phone.send(PIN), "slot")
        out(f"rented at 4601: {taken.splitlines()[0][:120]}")
        await until("the eject settled", lambda: "chukua power bank" in cli(home, env, "sms", "outbox", "--to", MSISDN).lower())
        slot = await fleet.return_bank("4602")
        out(f"returned at 4602 into slot {slot}: the station reports it over MQTT")
        await until("the receipt SMS", lambda: "imerudishwa" in cli(home, env, "sms", "outbox", "--to", MSISDN))
        out("receipt queued for the renter (sms outbox): the rental settled on the return event")
    out(cli(home, env, "ledger", "verify").strip())


async def run(mqtt: str | None, workers: int, out=print) -> int:
    with tempfile.TemporaryDirectory(prefix="enerlectra-rental-e2e-") as tmp:
        home = Path(tmp) / "home"
        # a broker of someone else's: a session of this run's own (a persistent one left by an earlier run on
        # that broker would hand this serve what its stations sent after that run ended)
        env = {"MQTT_URL": mqtt, "STATION_LINK_CLIENT_ID": f"enerlectra-link-e2e-{os.getpid()}"} if mqtt else {}
        for spec in STATIONS:
            cli(home, env, "stations", "add", spec.code, "--name", spec.name, "--area", spec.area,
                "--slots", str(spec.slots), "--country", "TZ")
        server = await load.start_server(workers, home, env={**env, "PIN_KDF_COST": "1024"})
        try:
            broker = mqtt or (home / "mqtt.url").read_text().strip()
            out(f"serve --workers {workers} on {home} (cold start {server.cold_start:.2f} s), MQTT {broker}")
            await rent_and_return(home, env, server, broker, out)
        except Failed as exc:
            out(f"FAILED: {exc}")
            return 1
        finally:
            server.stop()
    out("ok: a rental end to end through serve")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mqtt", help="a broker of your own (e.g. a Mosquitto); default: serve's embedded one")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.mqtt, args.workers)))


if __name__ == "__main__":
    main()
