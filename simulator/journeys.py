"""Journey files: one user story each, replayed by `enerlectra sim run` and by pytest.

    name: New user onboards in Bemba
    msisdn: "+260971000101"
    advisor: fake-claude           # optional, in-process runs: Claude's SDK against the fake Messages API
                                   # (default: the offline answer bank)
    steps:
      - dial: "*123#"              # or a shortcut: "*123*1#"
        expect: CON
        contains: [Ichibemba]
      - send: "2"
        expect: CON
        contains: [Ishina]
        absent: [Type]             # text that must not be on the screen
      - hangup: true               # the call drops; no request is sent
      - sms: "HELP"                # an SMS from this phone to our short code
      - inbox: true                # new SMS must arrive (within 10 s) and contain the fragments; it takes them
                                   # up to the one that completes the fragments (later ones stay new)
        contains: [HELP MORE]
      - inbox: none                # no new SMS arrives (within 1 s): a notice that must go only once
      - credit: "25.00"            # an operator credits this phone's wallet (in-process runs only)
      - energy: 5000               # ... or its energy, in Wh
      - meter: MTR-001 10000 0     # an operator registers a meter to this phone with its export and import
                                   # registers (the baseline; default 0 0), as a day ago (in-process only)
      - reading: MTR-001 12500 0   # the meter reports cumulative export and import Wh (an hour apart)
      - hours: 73                  # run the scheduled jobs as 73 hours from now: cluster proposals due close,
                                   # rental reminders due go out, lost banks are billed (in-process only)
      - send: "1"
        capture: {code: "code is ([A-Z0-9]+)"}   # later steps may use {code} in what they send or expect
        contains: [credited]       # the meter's answer: baseline / credited / duplicate / flagged
      - approve: true              # approve the mobile-money prompt waiting on this phone
        contains: [azampay, "1500"] # (optional) the provider and amount the prompt shows
      - decline: NOT_ENOUGH_FUNDS  # ... or decline it, with the provider's reason
      - provider_fail: payout_fail # make the sandboxes fail their next payout ("mtn payout_fail": one)
      - msisdn: "+260971000102"    # continue as another phone
      - return: "4022"             # put the power bank this phone's renter holds into a free slot at station
                                   # 4022 of the journey's fleet; the station reports it (in-process only)

A journey with power-bank stations names them (in-process runs: an operator adds each, and the fake fleet of
simulator/stations runs the online ones on the app's MQTT broker):

    fleet:
      - {code: "4021", name: Soweto Market, area: Lusaka, slots: 4, banks: 2}
      - {code: "4022", country: TZ, slots: 4, banks: 0}
      - {code: "4023", online: false}     # added, never powered on: it stays offline
      - {code: "4024", fail: not_popped}  # its first eject fails that way (simulator/stations/faults.py)

A step fails when the reply kind or any fragment differs; the runner stops at the first failure.
"""
from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simulator.phone import Phone
from simulator.transport import HttpTransport, Reply, SimError, connect

STEP_ACTIONS = ("dial", "send", "hangup", "msisdn", "resend", "sms", "inbox", "credit", "energy", "approve",
                "decline", "provider_fail", "meter", "reading", "hours", "return")
INBOX_WAIT = 10.0
QUIET_WAIT = 1.0           # `inbox: none` waits this long for an SMS that must not come
PROMPT_WAIT_TRIES = 20           # x 0.1 s


class JourneyError(ValueError):
    """A journey file that is not well formed."""


@dataclass(frozen=True)
class Step:
    action: str
    value: str
    expect: str | None = None
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    capture: tuple[tuple[str, str], ...] = ()     # (name, regex with one group) read off the screen or SMS


@dataclass(frozen=True)
class Journey:
    name: str
    msisdn: str
    steps: tuple[Step, ...]
    service_code: str = "*123#"
    source: str = ""
    advisor: str = "offline"          # offline / fake-claude
    fleet: tuple[dict, ...] = ()      # power-bank stations: code, name, area, country, slots, banks, online, fail


@dataclass
class Outcome:
    journey: Journey
    ok: bool
    failed_step: int | None = None
    message: str = ""
    transcript: list[str] = field(default_factory=list)


def _as_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int)):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return tuple(str(v) for v in value)
    raise JourneyError(f"{where}: expected text or a list of texts")


def parse_journey(data: Any, source: str = "") -> Journey:
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise JourneyError(f"{source}: a journey is a mapping with a list of steps")
    steps = []
    for n, raw in enumerate(data["steps"], start=1):
        where = f"{source} step {n}"
        if not isinstance(raw, dict):
            raise JourneyError(f"{where}: a step is a mapping")
        actions = [a for a in STEP_ACTIONS if a in raw]
        if len(actions) != 1:
            raise JourneyError(f"{where}: exactly one of {', '.join(STEP_ACTIONS)}")
        expect = raw.get("expect")
        if expect not in (None, "CON", "END"):
            raise JourneyError(f"{where}: expect is CON or END")
        value = raw[actions[0]]
        capture = raw.get("capture") or {}
        if not isinstance(capture, dict) or not all(isinstance(v, str) for v in capture.values()):
            raise JourneyError(f"{where}: capture maps a name to a regex with one group")
        steps.append(Step(actions[0], "" if value is True or value is None else str(value), expect,
                          _as_list(raw.get("contains"), where), _as_list(raw.get("absent"), where),
                          tuple((str(k), v) for k, v in capture.items())))
    advisor = str(data.get("advisor", "offline"))
    if advisor not in ("offline", "fake-claude"):
        raise JourneyError(f"{source}: advisor is offline or fake-claude")
    return Journey(name=str(data.get("name", source)), msisdn=str(data.get("msisdn", "+260971000001")),
                   steps=tuple(steps), service_code=str(data.get("service_code", "*123#")), source=source,
                   advisor=advisor, fleet=_fleet(data.get("fleet"), source))


FLEET_KEYS = {"code", "name", "area", "country", "slots", "banks", "online", "fail"}


def _fleet(rows: Any, source: str) -> tuple[dict, ...]:
    if rows is None:
        return ()
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "code" in r for r in rows):
        raise JourneyError(f"{source}: fleet is a list of stations, each with a code")
    for row in rows:
        if set(row) - FLEET_KEYS:
            raise JourneyError(f"{source}: station {row['code']}: unknown {', '.join(sorted(set(row) - FLEET_KEYS))}")
    return tuple({"name": f"Station {r['code']}", "area": "", "country": "ZM", "slots": 4, "banks": 2,
                  "online": True, **{k: v for k, v in r.items()}, "code": str(r["code"])} for r in rows)


def load_journey(path: str | Path) -> Journey:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise JourneyError(f"{path}: not YAML: {exc}") from None
    return parse_journey(data, str(path))


def check(step: Step, reply: Reply) -> str | None:
    """Why this reply does not match the step, or None."""
    problems = []
    if step.expect and reply.kind != step.expect:
        problems.append(f"expected {step.expect}, got {reply.kind}")
    problems += [f"missing {frag!r}" for frag in step.contains if frag not in reply.text]
    problems += [f"unexpected {frag!r}" for frag in step.absent if frag in reply.text]
    return "; ".join(problems) or None


def _fill(step: Step, found: dict[str, str]) -> Step:
    """The step with {name} replaced by what earlier steps captured."""
    value = step.value
    for name, text in found.items():
        value = value.replace("{" + name + "}", text)
    return Step(step.action, value, step.expect, tuple(_fill_text(c, found) for c in step.contains), step.absent,
                step.capture)


def _fill_text(text: str, found: dict[str, str]) -> str:
    for name, value in found.items():
        text = text.replace("{" + name + "}", value)
    return text


def _capture(step: Step, text: str, found: dict[str, str]) -> str | None:
    for name, pattern in step.capture:
        match = re.search(pattern, text)
        if match is None:
            return f"capture {name}: {pattern!r} not found"
        found[name] = match.group(1)
    return None


async def run_journey(journey: Journey, transport: HttpTransport) -> Outcome:
    if not journey.fleet:
        return await _run_steps(journey, transport, None)
    from simulator.stations.fleet import Fleet, StationSpec

    if transport.mqtt_url is None or transport.operator is None:
        return Outcome(journey, False, 0, "a journey with a fleet runs in-process, with the app's MQTT broker")
    for row in journey.fleet:
        await transport.operator.station(row)
    online = [r for r in journey.fleet if r["online"]]
    fleet = Fleet([StationSpec(r["code"], r["name"], r["area"], int(r["slots"]), int(r["banks"])) for r in online],
                  transport.mqtt_url, heartbeat_seconds=30)
    for row in online:
        station = fleet.station(row["code"])
        for n in range(1, int(row["banks"]) + 1):       # charged: the fleet's own mix would leave some flat
            station.cabinet.load(n, f"PB{int(row['code']):06d}{n:02d}", 100)
        if row.get("fail"):
            station.faults.next(str(row["fail"]))
    async with fleet:
        for row in online:
            if not await transport.operator.heard(row["code"]):
                return Outcome(journey, False, 0, f"station {row['code']} never came online")
        return await _run_steps(journey, transport, fleet)


async def _run_steps(journey: Journey, transport: HttpTransport, fleet) -> Outcome:
    phone = Phone(transport, journey.msisdn, journey.service_code)
    outcome = Outcome(journey, ok=True)
    found: dict[str, str] = {}
    for n, raw_step in enumerate(journey.steps, start=1):
        step = _fill(raw_step, found)
        if step.action == "hangup":
            phone.hangup()
            outcome.transcript.append("-- hangup")
            continue
        if step.action == "msisdn":
            phone.hangup()
            phone.msisdn, phone.sms_seen = step.value, 0
            outcome.transcript.append(f"-- phone {step.value}")
            continue
        if step.action == "return":
            problem = await _return_step(fleet, step, outcome)
            if problem:
                return Outcome(journey, False, n, problem, outcome.transcript)
            continue
        if step.action in ("credit", "energy", "meter", "reading", "hours"):
            problem = await _operator_step(phone, step, outcome)
            if problem:
                return Outcome(journey, False, n, problem, outcome.transcript)
            continue
        if step.action in ("approve", "decline", "provider_fail"):
            problem = await _provider_step(phone, step)
            outcome.transcript.append(f"-- {step.action} {step.value}")
            if problem:
                return Outcome(journey, False, n, problem, outcome.transcript)
            continue
        if step.action in ("sms", "inbox"):
            problem = await _sms_step(phone, step, outcome)
            if not problem and step.capture:
                problem = _capture(step, outcome.transcript[-1], found)
            if problem:
                return Outcome(journey, False, n, problem, outcome.transcript)
            continue
        try:
            if step.action == "dial":
                reply = await phone.dial(step.value or None)
            elif step.action == "resend":
                reply = await phone.resend()
            else:
                reply = await phone.send(step.value)
                if check(step, reply) and _asked_again(phone):
                    # The aggregator's hops carry no id of ours, so the app asked whether the same key pressed
                    # again was meant: the user presses it once more, as the screen says.
                    outcome.transcript.append(f"> {step.action} {step.value}\n{reply}")
                    reply = await phone.send(step.value)
        except (SimError, RuntimeError, ValueError) as exc:
            return Outcome(journey, False, n, f"{step.action} {step.value!r}: {exc}", outcome.transcript)
        outcome.transcript.append(f"> {step.action} {step.value}\n{reply}")
        problem = check(step, reply) or _capture(step, reply.text, found)
        if problem:
            return Outcome(journey, False, n, f"{step.action} {step.value!r}: {problem}\n"
                                              f"screen was:\n{reply}", outcome.transcript)
    return outcome


def _asked_again(phone: Phone) -> bool:
    """The last key repeated the one before it on an aggregator where the app asks about that."""
    inputs = phone.inputs
    return phone.transport.wire.asks_on_repeat and len(inputs) >= 2 and inputs[-1] == inputs[-2]


async def _operator_step(phone: Phone, step: Step, outcome: Outcome) -> str | None:
    """Credits and meters: what an operator or a meter does around the phone."""
    transport = phone.transport
    try:
        if step.action in ("credit", "energy"):
            done = await transport.credit(phone.msisdn, step.value, energy=step.action == "energy")
            outcome.transcript.append(f"-- operator {step.action} {step.value}: {done}")
        elif step.action == "hours":
            outcome.transcript.append(f"-- {step.value} hours pass: {await transport.pass_time(float(step.value))}")
        elif step.action == "meter":
            serial, *registers = step.value.split()
            await transport.meter(phone.msisdn, serial, *(int(wh) for wh in registers))
            outcome.transcript.append(f"-- meter {step.value} registered to {phone.msisdn}")
        else:
            number, export_wh, import_wh = step.value.split()
            answer = await transport.reading(number, int(export_wh), int(import_wh))
            outcome.transcript.append(f"-- reading {step.value}: {answer}")
            return check(step, Reply("METER", str(answer)))
    except (SimError, ValueError) as exc:
        return f"{step.action} {step.value!r}: {exc}"
    return None


async def _return_step(fleet, step: Step, outcome: Outcome) -> str | None:
    """The bank in hand (the one out, or the serial named second) into a free slot at the station named."""
    if fleet is None:
        return "return: this journey has no fleet"
    code, *pb = step.value.split()
    try:
        slot = await fleet.return_bank(code, pb[0].upper() if pb else None)
    except Exception as exc:            # noqa: BLE001 -- StationFull, StationOffline, ValueError: said, not raised
        return f"return {step.value!r}: {exc}"
    outcome.transcript.append(f"-- power bank into slot {slot} at station {code}")
    return None


async def _provider_step(phone: Phone, step: Step) -> str | None:
    try:
        if step.action == "provider_fail":
            await phone.transport.provider_fail(step.value)
            return None
        prompts = await phone.transport.prompts(phone.msisdn)
        for _ in range(PROMPT_WAIT_TRIES):            # against a server (--url) the prompt may be on its way
            if prompts:
                break
            await asyncio.sleep(0.1)
            prompts = await phone.transport.prompts(phone.msisdn)
        if not prompts:
            return (f"{step.action}: no payment prompt waiting on {phone.msisdn} "
                    f"(asked {', '.join(phone.transport.sandboxes) or 'no sandbox'})")
        shown = " ".join(str(prompts[0].get(k) or "") for k in ("provider", "amount", "currency", "message"))
        missing = [frag for frag in step.contains if frag not in shown]
        if missing:                          # `contains` on a prompt: which provider asks, for how much
            return f"{step.action}: the prompt {shown!r} lacks {missing}"
        approve = step.action == "approve"
        await phone.transport.decide(prompts[0], approve, None if approve else (step.value or None))
    except SimError as exc:
        return f"{step.action}: {exc}"
    return None


async def _sms_step(phone: Phone, step: Step, outcome: Outcome) -> str | None:
    try:
        if step.action == "sms":
            await phone.sms(step.value)
            outcome.transcript.append(f"> sms {step.value}")
            return None
        if step.value == "none":
            fresh = await phone.new_sms(wait=QUIET_WAIT)
        else:
            # SMS from one action (a vote's result, then the payout it started) may arrive in either order and
            # at once: a step takes the new ones up to the one that shows its fragments, the rest stay new.
            fresh = await phone.sms_showing(step.contains, wait=INBOX_WAIT)
    except (SimError, ValueError) as exc:
        return f"{step.action} {step.value!r}: {exc}"
    texts = "\n--\n".join(m["text"] for m in fresh)
    outcome.transcript.append(f"< inbox\n{texts}")
    if step.value == "none":
        return f"inbox: expected no new SMS, got:\n{texts}" if fresh else None
    if not fresh:
        return f"inbox: no new SMS to {phone.msisdn} within {INBOX_WAIT:.0f} s"
    problem = check(step, Reply("SMS", texts))
    return f"inbox: {problem}\nnew SMS:\n{texts}" if problem else None


@contextlib.asynccontextmanager
async def _fresh_app(journey: Journey, aggregator: str = "africastalking"):
    """A throwaway in-process app (own SQLite, own key prefix) so every file starts from nothing."""
    from enerlectra.settings import Settings
    from simulator.fake_claude import pointed_at_fake

    with tempfile.TemporaryDirectory(prefix="enerlectra-sim-") as tmp:
        base = Settings.from_env()
        settings = base.with_(home=Path(tmp), database_url=None,
                              redis_prefix=f"{base.redis_prefix}sim:{Path(tmp).name}:")
        async with contextlib.AsyncExitStack() as stack:
            if journey.advisor == "fake-claude":
                settings = await stack.enter_async_context(pointed_at_fake(settings))
            if journey.fleet and not settings.mqtt_url:        # the fleet's broker, the app's link on it
                from enerlectra.embedded_mqtt import embedded_broker
                from enerlectra.ports import free_port

                url = await stack.enter_async_context(embedded_broker("127.0.0.1", free_port()))
                settings = settings.with_(mqtt_url=url)
            yield await stack.enter_async_context(connect(settings=settings, aggregator=aggregator))


async def run_files(files: list[str], url: str | None = None, token: str | None = None,
                    at_url: str | None = None, aggregator: str = "africastalking") -> int:
    """Each file through `aggregator`'s wire format (simulator/wire.py); 0 when all pass."""
    try:
        journeys = [load_journey(f) for f in files]
    except (JourneyError, OSError) as exc:          # one line: YAML's own message spans several
        lines = (line.strip() for line in str(exc).splitlines())
        print("error: " + " ".join(line for line in lines if line not in ("", "^")))
        return 2
    for journey in journeys:
        ctx = connect(url, token, at_url=at_url, aggregator=aggregator) if url else _fresh_app(journey, aggregator)
        async with ctx as transport:
            outcome = await run_journey(journey, transport)
        if not outcome.ok:
            print(f"FAIL {journey.source} ({journey.name}) at step {outcome.failed_step}: {outcome.message}")
            return 1
        print(f"ok   {journey.source} ({journey.name}): {len(journey.steps)} steps"
              + ("" if aggregator == "africastalking" else f" via {aggregator}"))
    return 0
