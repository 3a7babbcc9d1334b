"""The USSD aggregator conformance kit: ONE harness (`run_case`) runs every aggregator's table
(tests/aggregators/) against the real app: aiohttp test client, real Redis, real SQL, each aggregator's own wire
format (simulator/wire.py). A new aggregator = its adapter module + one table.

The cases: a new session; a continue; a repeated key (`1` then `1`: both run, the probe for latest-input
aggregators); a `*` inside one input; a dial-string shortcut; a retransmitted hop (the money step posts once, a
mid-session hop moves the session once); the end and timeout notices; malformed bodies (a one-line 400); a wrong
token (403); unicode input; a hop after Redis lost the session.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from enerlectra.db.models import UssdSessionEvent
from enerlectra.settings import AggregatorConfig
from simulator.wire import WIRES, Call, Hubtel, Wire
from tests.aggregators import CASES, Table, tables
from tests.helpers import assert_screen_ok
from tests.test_wallet import fund, register, transfers
from ussd_app import appkeys
from ussd_app.app import create_app

TABLES: dict[str, Table] = tables()
USER, FRIEND, STRANGER = "+260971700001", "+260961700002", "+260971700003"
PIN = "3971"
HOME = "Enerlectra - hi"
WALLET = "Money:"
HISTORY = "No transactions yet."
WRONG_KEY = "Reply with a number from the list."


class Line:
    """A phone on one aggregator: builds its hops with the aggregator's wire and reads its replies."""

    def __init__(self, client, wire: Wire, msisdn: str, service_code: str = "*123#"):
        self.client, self.wire, self.msisdn, self.service_code = client, wire, msisdn, service_code
        self.call: Call | None = None
        self.sent: dict | None = None

    @property
    def path(self) -> str:
        return f"/ussd/{self.wire.name}"

    async def dial(self, code: str | None = None) -> str:
        code = code or self.service_code
        base = self.service_code.rstrip("#")
        shortcut = code[len(base) + 1:-1] if code.startswith(base + "*") else ""
        self.call = self.wire.new_call(self.msisdn, self.service_code, code, shortcut)
        return await self.post(self.wire.first(self.call))

    async def press(self, *keys: str) -> str:
        for key in keys:
            reply = await self.post(self.wire.next(self.call, key))
        return reply

    async def resend(self) -> str:
        return await self.post(self.sent)

    async def post(self, body: dict, path: str | None = None, **params) -> str:
        self.sent = body
        sent = {"data": body} if self.wire.form else {"json": body}
        resp = await self.client.post(path or self.path, params=params, **sent)
        raw = await resp.text()
        assert resp.status == 200, (resp.status, raw)
        answer = self.wire.read(self.call, raw)
        wire = f"{answer.kind} {answer.text}"
        assert_screen_ok(wire)
        return wire

    @property
    def session_id(self) -> str:
        """The session id as the engine keeps it (the others' are namespaced by the adapter)."""
        sid = self.call.session_id
        return sid if self.wire.name == "africastalking" else f"{self.wire.name}:{sid}"


async def _registered(client, wire: Wire, msisdn: str, name: str) -> Line:
    line = Line(client, wire, msisdn)
    assert "English" in await line.dial()
    assert name in await line.press("1", name, PIN, PIN)
    return line


async def _event(client, session_id: str) -> UssdSessionEvent | None:
    async with client.app[appkeys.DB]() as s:
        return await s.scalar(select(UssdSessionEvent).where(UssdSessionEvent.session_id == session_id))


async def _post_raw(client, path: str, body, content_type: str, **params):
    if isinstance(body, dict) and content_type.startswith("application/x-www-form"):
        return await client.post(path, data=body, params=params)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(path, data=raw, headers={"Content-Type": content_type}, params=params)


# -- the harness: one function, every case of every table ------------------------------------------------

async def run_case(client, aiohttp_client, settings, table: Table, case: str) -> None:
    wire = table.wire()
    if case == "new_session":
        first = await Line(client, wire, STRANGER).dial()
        assert first.startswith("CON ") and "English" in first
    elif case == "continue":
        line = Line(client, wire, STRANGER)
        await line.dial()
        assert "name" in (await line.press("1")).lower()
    elif case == "repeated_key":
        # The probe: with the latest input only, the second `1` is a new hop; it must run, not replay the first.
        line = await _registered(client, wire, USER, "Mwila")
        assert HOME in await line.dial()
        first, second = await line.press("1"), await line.press("1")
        if table.asks_on_repeat:       # may be a retry: nothing runs, the screen asks; the next `1` is taken
            assert WALLET in first and "You pressed 1 again" in second and WALLET in second, (first, second)
            second = await line.press("1")
        assert WALLET in first and HISTORY in second, (first, second)
    elif case == "star_inside_input":
        line = await _registered(client, wire, USER, "Mwila")
        await line.dial()
        assert WRONG_KEY in await line.press("1*2")           # one input, not 1 then 2
        assert WALLET in await line.press("1")
    elif case == "shortcut":
        line = await _registered(client, wire, USER, "Mwila")
        assert WALLET in await line.dial("*123*1#")
        assert HISTORY in await line.press("1")
    elif case == "retransmit_money_hop":
        await _registered(client, wire, FRIEND, "Chipo")
        line = await _registered(client, wire, USER, "Mwila")
        await fund(client, USER, "100")
        await line.dial()
        sent = await line.press("1", "2", FRIEND.replace("+260", "0"), "15", PIN)
        assert "Sent" in sent, sent
        assert await line.resend() == sent
        assert await transfers(client) == 1
    elif case == "retransmit_mid_session":
        line = await _registered(client, wire, USER, "Mwila")
        await line.dial()
        wallet = await line.press("1")
        assert await line.resend() == wallet                  # the same reply; the session moved once
        assert HISTORY in await line.press("1")
    elif case in ("end_notice", "timeout_notice"):
        line = await _registered(client, wire, USER, "Mwila")
        await line.dial()
        await line.press("1")
        notice = table.end_notice(line.call) if case == "end_notice" else table.timeout_notice(line.call)
        sent = {"data": notice} if wire.form else {"json": notice}
        resp = await client.post(table.notice_path or line.path, **sent)
        assert resp.status == 200, await resp.text()
        late = await line.post(wire.next(line.call, "1"))
        assert late.startswith("END ") and "timed out" in late, late
        row = await _event(client, line.session_id)
        assert row is not None and row.msisdn == USER and row.status
        again = await client.post(table.notice_path or line.path, **sent)        # a repeated notice: still 200
        assert again.status == 200
    elif case == "malformed_body":
        for bad in table.malformed:
            resp = await _post_raw(client, f"/ussd/{table.name}", bad.body, bad.content_type)
            text = await resp.text()
            assert resp.status == 400, (bad.label, resp.status, text)
            assert "\n" not in text.strip() and "Traceback" not in text, (bad.label, text)
            assert bad.says.lower() in text.lower(), (bad.label, text)
    elif case == "wrong_token":
        token = AggregatorConfig(enabled=True, token="right-token")
        guarded = settings.with_(aggregators={table.name: token},
                                 webhook_token="another-token")
        other = await aiohttp_client(create_app(guarded))
        call = wire.new_call(STRANGER, "*123#", "*123#", "")
        body = wire.first(call)
        for params, path in (({"token": "wrong"}, f"/ussd/{table.name}"), ({}, f"/ussd/{table.name}"),
                             ({}, f"/ussd/{table.name}/another-token")):
            resp = await _post_raw(other, path, body, _type(wire), **params)
            assert resp.status == 403, (params, path, resp.status)
            assert "\n" not in (await resp.text()).strip()
        for params, path in (({"token": "right-token"}, f"/ussd/{table.name}"),
                             ({}, f"/ussd/{table.name}/right-token")):
            line = Line(other, wire, STRANGER)
            line.call = wire.new_call(STRANGER, "*123#", "*123#", "")
            assert "English" in await line.post(wire.first(line.call), path, **params)
    elif case == "unicode_input":
        line = Line(client, wire, STRANGER)
        await line.dial()
        assert "Type 1, 2, 3 or 4." in await line.press("١")          # an Arabic-Indic one is not a key of ours
        named = await line.press("1", "Zoë")                           # a name with a letter outside GSM-7
        assert named.startswith("CON ")
    elif case == "session_lost":
        line = await _registered(client, wire, USER, "Mwila")
        await line.dial()
        assert WALLET in await line.press("1")
        store = client.app[appkeys.ENGINE].store
        await store.redis.delete(store._key(line.session_id, "s"))
        after = await line.press("1")
        if table.after_lost_session == "walked again":
            assert HISTORY in after, after                        # AT's text is the whole path: walked again
        else:
            assert after.startswith("END ") and "timed out" in after, after     # never a step run blind
            assert after == await line.resend()
    else:
        raise AssertionError(f"no such case {case}")


def _type(wire: Wire) -> str:
    return "application/x-www-form-urlencoded" if wire.form else "application/json"


ROWS = [(name, case) for name, table in TABLES.items() for case in CASES]


@pytest.mark.parametrize("name,case", ROWS, ids=[f"{n}-{c}" for n, c in ROWS])
async def test_conformance(client, aiohttp_client, settings, name, case):
    table = TABLES[name]
    if case in table.skipped:
        pytest.skip(table.skipped[case])
    await run_case(client, aiohttp_client, settings, table, case)


# -- the registry ------------------------------------------------------------------------------------

async def test_an_unknown_or_disabled_aggregator_is_a_404(aiohttp_client, settings):
    off = {**settings.aggregators, "beem": AggregatorConfig(enabled=False)}
    app = await aiohttp_client(create_app(settings.with_(aggregators=off)))
    for path in ("/ussd/nobody", "/ussd/beem", "/ussd/beem/some-token"):
        resp = await app.post(path, json={"command": "initiate"})
        assert resp.status == 404, path
        assert "\n" not in (await resp.text()).strip()
    call = Hubtel().new_call(STRANGER, "*123#", "*123#", "")
    resp = await app.post("/ussd/hubtel", json=Hubtel().first(call))
    assert resp.status == 200


def test_every_registered_aggregator_has_a_table():
    from ussd_app.aggregators.registry import ADAPTERS

    assert set(ADAPTERS) == set(TABLES) == set(WIRES)




# -- the probe, at the engine: a latest-input aggregator's repeated key ------------------------------------

async def test_probe_a_repeated_key_runs_twice_and_a_retry_of_either_runs_nothing(client):
    """Hops of a latest-input aggregator carry `1` and `1`: two hop ids, two steps. Before the contract the
    replay cache was keyed by the text, so the second `1` got the first one's screen and nothing ran."""
    from enerlectra.ussd.types import UssdRequest
    from ussd_app.engine import paths

    await register(client, USER, "Mwila")
    engine = client.app[appkeys.ENGINE]

    def hop(hop_id: str, text: str, new: bool = False) -> UssdRequest:
        return UssdRequest("probe:1", USER, "ZM", text, hop_id=hop_id, is_new=new, path_rule=paths.APPENDED,
                           aggregator="probe")

    assert HOME in (await engine.handle(hop("h0", "", new=True))).text
    first = await engine.handle(hop("h1", "1"))
    second = await engine.handle(hop("h2", "1"))
    assert WALLET in first.text and HISTORY in second.text
    assert await engine.handle(hop("h1", "1")) == first           # retries answer from the replay cache
    assert await engine.handle(hop("h2", "1")) == second
    back = await engine.handle(hop("h3", "0"))                    # Back from History: the wallet, no hint on top
    assert back.text.startswith(WALLET), back.text


SHORTCUTS = [  # (aggregator, configured codes, dial string, ServiceCode field, the inputs it opens with)
    ("hubtel", ("*713*20#",), "*713*20*1*1#", "713*20", "1*1"),
    ("hubtel", ("*713*20#",), "*713*20#", "713*20", ""),
    ("hubtel", ("*123#",), "*713*20*4#", "713*20", "4"),          # not ours by setting: the code Hubtel names
    ("arkesel", ("*928*01#", "*928#"), "*928*01*4#", "", "4"),    # the longest code of ours wins
    ("arkesel", ("*928#",), "4", "", ""),                          # not a dial string
    ("beem", ("*150*00#",), "*150*00*2#", "", "2"),
]


@pytest.mark.parametrize("name,codes,dial,code,parts", SHORTCUTS)
def test_a_first_hops_dial_string_opens_with_its_shortcut(name, codes, dial, code, parts):
    from ussd_app.aggregators.contract import Config
    from ussd_app.aggregators.registry import ADAPTERS

    adapter = ADAPTERS[name](Config(enabled=True, token=None, service_codes=codes))
    call = WIRES[name]().new_call(STRANGER, codes[0], dial, "")
    body = WIRES[name]().first(call)
    if name == "hubtel":
        body["ServiceCode"] = code
    assert adapter.parse(body).text == parts
