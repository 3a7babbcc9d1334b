"""How the simulated phone reaches the world: USSD hops and SMS to our app, SMS back from the fake AT.

In-process mode (the default) starts the real app on a loopback port, the fake Africa's Talking SMS
API beside it, and runs queued jobs after every action, so an SMS lands in the inbox right after the
screen that caused it. `--url` mode talks HTTP to a running server; its SMS inbox is read from the fake
AT server that server sends through (`enerlectra serve --fake-at` prints its URL).
"""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from enerlectra.ports import listening_socket
from simulator.wire import WireError, wire

USSD_PATH = "/ussd/africastalking"          # the default aggregator's; `aggregator=` picks another
SMS_INBOUND_PATH = "/sms/africastalking/inbound"
READING_HOURS = 24      # a journey's meters were registered this long ago; its readings follow an hour apart


class SimError(RuntimeError):
    """The server answered something a handset cannot show (not 200, or not CON/END)."""


@dataclass(frozen=True)
class Reply:
    kind: str       # CON / END
    text: str

    @property
    def ended(self) -> bool:
        return self.kind == "END"

    def __str__(self) -> str:
        return f"{self.kind} {self.text}"


async def _nothing_to_settle() -> None:
    return None


class HttpTransport:
    def __init__(self, base_url: str, token: str | None = None, client: aiohttp.ClientSession | None = None,
                 at_url: str | None = None, settle: Callable[[], Awaitable[None]] = _nothing_to_settle,
                 operator: "Operator | None" = None, sandboxes: dict[str, str] | None = None,
                 aggregator: str = "africastalking", mqtt_url: str | None = None):
        self.base = base_url.rstrip("/")
        self.mqtt_url = mqtt_url        # in-process only: the broker the app's station link is on (journey fleets)
        self.wire = wire(aggregator)        # whose wire format the phone's hops take (simulator/wire.py)
        self.aggregator = aggregator
        self.url = f"{self.base}/ussd/{aggregator}"
        self.params = {"token": token} if token else {}
        self.at_url = at_url.rstrip("/") if at_url else None
        self.settle = settle            # let the workers catch up (in-process: run queued jobs now)
        self.operator = operator        # in-process only: an Operator (credits, meters) for journeys
        # The mobile-money sandboxes whose "approve payment?" prompts this phone can answer.
        # name -> base URL: mtn, airtel, pawapay, azampay.
        self.sandboxes = {name: url.rstrip("/") for name, url in (sandboxes or {}).items() if url}
        self._client = client
        self._sms_ids = 0
        self._readings = 0
        self.meter_secrets: dict[str, str] = {}

    async def post(self, body: dict, call=None) -> Reply:
        """One hop in the aggregator's wire format (`call`: its session, for what the reply asks back)."""
        assert self._client is not None, "use HttpTransport inside `connect()`"
        sent = {"data": body} if self.wire.form else {"json": body}
        async with self._client.post(self.url, params=self.params, **sent) as resp:
            raw = await resp.text()
            if resp.status != 200:
                raise SimError(f"HTTP {resp.status}: {raw.strip()}")
        await self.settle()
        try:
            answer = self.wire.read(call, raw) if call is not None else self.wire.read_plain(raw)
        except WireError as exc:
            raise SimError(str(exc)) from None
        return Reply(answer.kind, answer.text)

    async def send_sms(self, msisdn: str, text: str, to: str = "21212") -> None:
        """An SMS from the phone to our short code, as Africa's Talking would post it."""
        self._sms_ids += 1
        form = {"from": msisdn, "to": to, "text": text, "id": f"ATXid_sim_{id(self)}_{self._sms_ids}",
                "date": "", "networkCode": "64501"}
        async with self._client.post(self.base + SMS_INBOUND_PATH, data=form, params=self.params) as resp:
            if resp.status != 200:
                raise SimError(f"HTTP {resp.status}: {(await resp.text()).strip()}")
        await self.settle()

    async def credit(self, msisdn: str, amount: str, energy: bool = False) -> str:
        """An operator credit to a wallet (what `enerlectra ledger credit` does), in-process only."""
        if self.operator is None:
            raise SimError("operator credits need the in-process app (no --url)")
        return await self.operator.credit(msisdn, amount, energy)

    async def meter(self, msisdn: str, serial: str, export_wh: int = 0, import_wh: int = 0) -> None:
        """Register a meter to this phone with its register values (in-process: the operator's `meter add`);
        the secret its manufacturer set is kept here, as the meter keeps it."""
        if self.operator is None:
            raise SimError("registering a meter for a journey needs the in-process app (no --url)")
        self.meter_secrets[serial.upper()] = await self.operator.meter(msisdn, serial, export_wh, import_wh)

    async def pass_time(self, hours: float) -> str:
        """Let `hours` pass (in-process only): cluster proposals due close, rental reminders due go out."""
        if self.operator is None:
            raise SimError("letting time pass needs the in-process app (no --url)")
        queued = await self.operator.pass_time(hours)
        await self.settle()
        return f"{queued} SMS"

    async def reading(self, number: str, export_wh: int, import_wh: int) -> dict:
        """A meter reading, as the meter would post it: the first an hour after its (day-old) registration,
        then an hour apart."""
        from datetime import datetime, timedelta, timezone

        self._readings += 1
        stamp = datetime.now(timezone.utc) - timedelta(hours=READING_HOURS - self._readings)
        body = {"meter": number, "export_wh": export_wh, "import_wh": import_wh,
                "timestamp": stamp.replace(microsecond=0).isoformat()}
        headers = {"X-Meter-Secret": self.meter_secrets.get(number.upper(), "")}
        async with self._client.post(self.base + "/meters/readings", json=body, headers=headers) as resp:
            answer = await resp.json(content_type=None)
        await self.settle()
        return {"http": resp.status, **answer}

    async def prompts(self, msisdn: str) -> list[dict]:
        """Mobile-money "approve payment?" prompts waiting on this phone, from every sandbox."""
        found = []
        for name, url in self.sandboxes.items():
            async with self._client.get(f"{url}/sim/pending/{msisdn.lstrip('+')}") as resp:
                found += [{**p, "provider": name} for p in await resp.json()]
        return found

    async def decide(self, prompt: dict, approve: bool, reason: str | None = None) -> None:
        """Answer a prompt as the phone's owner would; the provider then calls us back."""
        body = {"reference": prompt["reference"], "approve": approve, "reason": reason}
        async with self._client.post(f"{self.sandboxes[prompt['provider']]}/sim/decide", json=body) as resp:
            if resp.status != 200:
                raise SimError(f"{prompt['provider']} sandbox: HTTP {resp.status}")
        await self.settle()

    async def provider_fail(self, mode: str) -> None:
        """`mtn payout_fail` or `payout_fail` (every sandbox): make the next such request fail."""
        name, _, what = mode.partition(" ") if " " in mode else ("", "", mode)
        targets = {name: self.sandboxes[name]} if name else self.sandboxes
        if not targets:
            raise SimError("no mobile-money sandbox to configure")
        for url in targets.values():
            async with self._client.post(f"{url}/sim/fail", json={"mode": what}) as resp:
                if resp.status != 200:
                    raise SimError(f"sandbox: HTTP {resp.status}")

    async def inbox(self, msisdn: str) -> list[dict]:
        """SMS delivered to this number so far, oldest first (empty without a fake AT server)."""
        if not self.at_url:
            return []
        async with self._client.get(f"{self.at_url}/sim/inbox/{msisdn}") as resp:
            return await resp.json()


@contextlib.asynccontextmanager
async def connect(url: str | None = None, token: str | None = None, settings=None, at_url: str | None = None,
                  sandboxes: dict[str, str] | None = None,
                  aggregator: str = "africastalking") -> AsyncIterator[HttpTransport]:
    """A transport to `url`, or to the real app started here on embedded defaults (or `settings`), whose
    hops take `aggregator`'s wire format."""
    async with aiohttp.ClientSession() as client:
        if url:
            yield HttpTransport(url, token, client, at_url=at_url, sandboxes=sandboxes, aggregator=aggregator)
            return
        async with _in_process(settings, aggregator) as (base, settings, at_url, settle, operator, sandboxes):
            yield HttpTransport(base, settings.webhook_token, client, at_url=at_url, settle=settle,
                                operator=operator, sandboxes=sandboxes, aggregator=aggregator,
                                mqtt_url=settings.mqtt_url)


class Operator:
    """What an operator does for a journey, straight through the domain (in-process runs only):
    credit a wallet (money or Wh) as `enerlectra ledger credit` would, register a meter as `meter add` would."""

    def __init__(self, db):
        self.db = db              # the app's: its units of work hand their follow-ups to the workers

    async def _user(self, msisdn: str):
        from enerlectra.domain import wallet

        user = await wallet.find_user(self.db, msisdn)
        if user is None:
            raise SimError(f"{msisdn} is not registered")
        return user

    async def credit(self, msisdn: str, amount: str, energy: bool = False) -> str:
        import uuid

        from enerlectra.domain import ledger, wallet
        from enerlectra.domain.money import parse_amount

        user = await self._user(msisdn)
        asset, value = (ledger.ENERGY, int(amount)) if energy else (user.currency, parse_amount(amount, user.currency))
        posted = await wallet.credit(self.db, f"sim:{uuid.uuid4().hex}", user, asset, value, "simulator journey")
        return f"entry {posted.entry_id}"

    async def pass_time(self, hours: float) -> int:
        """Run what the scheduled jobs will run `hours` from now: close the proposals whose deadline falls by
        then, send the rental reminders due then (overdue, the final notice) and bill the banks lost by then;
        returns how many SMS were queued (the settle step sends them)."""
        from datetime import timedelta

        from enerlectra.domain import outbox
        from enerlectra.domain.clusters import proposals
        from enerlectra.domain.rentals import notices
        from enerlectra.domain.work import followups, unit_of_work

        then = outbox.now() + timedelta(hours=hours)
        async with unit_of_work(self.db) as s:
            await proposals.close_due(s, at=then)
            queued = len(followups(s).sends)
        queued += await notices.run(self.db, then)
        return queued + await notices.run(self.db, then, lost=True)

    async def station(self, row: dict) -> None:
        """Add a power-bank station as `enerlectra stations add` does (a journey's fleet)."""
        from enerlectra.domain.stations import fleet
        from enerlectra.domain.work import unit_of_work

        async with unit_of_work(self.db) as s:
            await fleet.add(s, row["code"], row["name"], row["area"] or "-", int(row["slots"]), row["country"])

    async def heard(self, code: str, seconds: float = 10.0) -> bool:
        """Whether the app's station link heard the station come online (with its banks) within `seconds`."""
        from enerlectra.domain.stations import fleet

        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            async with self.db() as s:
                found = await fleet.views(s, 0, code=code)
            if found and found[0].online and found[0].last_heartbeat_at is not None:
                return True
            await asyncio.sleep(0.05)
        return False

    async def meter(self, msisdn: str, serial: str, export_wh: int, import_wh: int) -> str:
        """Register a meter to this phone's user as a technician did a day ago (so the journey's readings,
        an hour apart, come after it); returns the secret, made up here as its manufacturer would."""
        import secrets
        from datetime import timedelta

        from enerlectra.domain import meters, outbox

        user = await self._user(msisdn)
        secret = secrets.token_hex(8)
        async with self.db() as s, s.begin():
            await meters.register(s, user, serial, secret, export_wh, import_wh,
                                  now=outbox.now() - timedelta(hours=READING_HOURS))
        return secret


@contextlib.asynccontextmanager
async def _in_process(settings, aggregator: str = "africastalking"):
    from enerlectra.db.migrate import upgrade_async
    from enerlectra.embedded_redis import resolve_redis_url
    from enerlectra.settings import Settings
    from payments.sandboxes import local as local_payments
    from simulator.fake_at import FakeAT, report_url, running
    from ussd_app import appkeys
    from ussd_app.app import create_app
    from workers.main import run_burst

    settings = switched_on(settings or Settings.from_env(), aggregator)   # the one the phone speaks answers
    if settings.is_embedded_db:
        settings.home.mkdir(parents=True, exist_ok=True)
        await upgrade_async(settings.effective_database_url)
    redis_url, embedded = await asyncio.to_thread(resolve_redis_url, settings.redis_url, settings.home)
    fake = FakeAT()
    try:
        sock = listening_socket()
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings, sandboxes = local_payments.plan(settings.with_(public_base_url=base))
        async with running(fake) as fake_url, local_payments.serving(sandboxes):
            settings = settings.with_(redis_url=redis_url, at_username=fake.username, at_api_key=fake.api_key,
                                      at_api_base_url=fake_url)
            app = create_app(settings)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            fake.report_url = report_url(base, settings.webhook_token)

            async def settle() -> None:
                await asyncio.to_thread(run_burst, settings)

            try:
                sandbox_urls = {box.name: box.url for box in sandboxes}
                yield base, settings, fake_url, settle, Operator(app[appkeys.DB]), sandbox_urls
            finally:
                await runner.cleanup()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def switched_on(settings, aggregator: str):
    """`settings` with `aggregator` enabled (its token and codes kept): the in-process app answers the
    aggregator the simulator speaks, whatever its production default."""
    from dataclasses import replace

    from enerlectra.settings import AggregatorConfig

    given = settings.aggregators.get(aggregator, AggregatorConfig())
    return settings.with_(aggregators={**settings.aggregators, aggregator: replace(given, enabled=True)})
