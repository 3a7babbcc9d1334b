"""`enerlectra sim`: an interactive feature phone in the terminal.

Type digits or text to answer the screen; commands start with a word:
  dial [CODE]      start a session (*123# by default; shortcuts like *123*1# work)
  hangup           drop the call (dial again within 3 minutes to be offered "Continue")
  msisdn [NUMBER]  show or change this phone's number (E.164, e.g. +260971234567)
  sms TEXT         send an SMS to our short code (try: sms HELP)
  inbox            every SMS this phone has received
  approve          approve the mobile-money payment prompt on this phone
  decline [REASON] decline it (e.g. decline NOT_ENOUGH_FUNDS)
  return STATION [PB]  put the power bank you hold into a free slot at STATION (a fake fleet runs here)
  help             this text
  quit             leave the simulator
prompt_toolkit gives line editing and history on a terminal; piped input works line by line.
"""
from __future__ import annotations

import asyncio
import contextlib
import sys
import textwrap

import aiohttp

from enerlectra.redact import redact_url
from simulator.phone import Phone
from simulator.stations.cabinet import StationFull
from simulator.stations.fleet import Fleet
from simulator.stations.station import StationOffline
from simulator.transport import Reply, SimError, connect

WIDTH = 26        # a feature phone's screen is narrow; text wraps as it would there
COMMANDS = ("dial", "hangup", "msisdn", "sms", "inbox", "approve", "decline", "return", "help", "quit", "exit")


def draw(reply: Reply, msisdn: str) -> str:
    """The reply in a phone-shaped box, wrapped to the screen width."""
    lines: list[str] = []
    for line in reply.text.split("\n"):
        lines.extend(textwrap.wrap(line, WIDTH) or [""])
    status = "session ended" if reply.ended else "reply to continue"
    top = f"+{'-' * (WIDTH + 2)}+"
    body = [f"| {line:<{WIDTH}} |" for line in lines]
    return "\n".join([top, f"| {msisdn:<{WIDTH}} |", top, *body, top, f"  ({status})"])


# `sim --url` without --at-url: the server's SMS go out through its own gateway, not to this handset.
NO_INBOX = ("SMS from that server do not come to this handset. To see them here, start the server "
            "with `enerlectra serve --fake-at` and pass the URL it prints as `--at-url`. Where the server "
            "runs, `enerlectra sms outbox --to NUMBER` lists each SMS with its text (the default local "
            "gateway also writes them to ENERLECTRA_HOME/sms.log).")

# Who asks "pay ... to Enerlectra?" on the phone, by sandbox.
PROMPT_NAMES = {"mtn": "MTN MoMo", "airtel": "Airtel Money", "pawapay": "Mobile money", "azampay": "AzamPay"}


# `return` with no fake fleet in this simulator: the stations are elsewhere.
NO_FLEET = ("No fake station fleet runs in this simulator: return a bank where the fleet runs "
            "(`enerlectra sim fleet`, or Fleet.return_bank in a test).")


class Handset:
    def __init__(self, phone: Phone, out=print, fleet: Fleet | None = None):
        self.phone = phone
        self.out = out
        self.fleet = fleet              # a fake station fleet running in this process, for `return`

    async def handle(self, line: str) -> bool:
        """One line typed by the tester; False when they want to leave."""
        words = line.strip().split()
        command = words[0].lower() if words else ""
        try:
            if command in ("quit", "exit"):
                return False
            if command == "help":
                self.out(__doc__.split("\n", 2)[2].rsplit("prompt_toolkit", 1)[0].rstrip())
            elif command == "dial":
                self.show(await self.phone.dial(words[1] if len(words) > 1 else None))
            elif command == "hangup":
                self.phone.hangup()
                self.out("(call dropped)")
            elif command == "msisdn":
                if len(words) > 1:
                    self.phone.hangup()
                    self.phone.msisdn, self.phone.sms_seen = words[1], 0
                self.out(f"this phone is {self.phone.msisdn}")
            elif command == "sms":
                text = line.strip()[3:].strip()
                await self.phone.sms(text)
                self.out(f"(SMS sent: {text})")
            elif command == "inbox" and self.phone.transport.at_url is None:
                self.out(NO_INBOX)
            elif command == "inbox":
                messages = await self.phone.transport.inbox(self.phone.msisdn)
                self.out("\n".join(f"SMS {n}: {m['text']}" for n, m in enumerate(messages, 1)) or "(no SMS yet)")
            elif command in ("approve", "decline"):
                prompts = await self.phone.transport.prompts(self.phone.msisdn)
                if not prompts:
                    self.out("(no payment prompt on this phone)")
                else:
                    reason = words[1] if command == "decline" and len(words) > 1 else None
                    await self.phone.transport.decide(prompts[0], command == "approve", reason)
                    self.out(f"(payment {command}d)")
            elif command == "return":
                await self.return_bank(words[1:])
            elif not self.phone.in_session:
                self.out("no call in progress: type `dial` (or `help`)")
            else:
                self.show(await self.phone.send(line.strip()))
        except (SimError, ValueError, StationFull, StationOffline) as exc:
            self.out(f"error: {exc}")
        except aiohttp.ClientError as exc:          # the server (or a sandbox) is down: say so, keep the phone
            self.out(f"error: cannot reach the server: {exc}")
            return True
        for message in await self.phone.new_sms():
            self.out(f"*** new SMS: {message['text']}")
        for prompt in await self.phone.transport.prompts(self.phone.msisdn):
            name = PROMPT_NAMES.get(prompt["provider"], prompt["provider"])
            self.out(f"*** {name}: pay {prompt['amount']} {prompt['currency']} to Enerlectra? (approve / decline)")
        return True

    async def return_bank(self, words: list[str]) -> None:
        """`return STATION [PB]`: the bank this user holds (the only one out, or PB) into a slot there."""
        if self.fleet is None:
            self.out(NO_FLEET)
        elif not words or len(words) > 2:
            self.out("usage: return STATION [PB] (e.g. return 4021)")
        else:
            slot = await self.fleet.return_bank(words[0], words[1].upper() if len(words) > 1 else None)
            self.out(f"(power bank into slot {slot} at station {words[0]}: the station reports the return)")

    def show(self, reply: Reply) -> None:
        self.out(draw(reply, self.phone.msisdn))


async def _lines_from_terminal():
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.patch_stdout import patch_stdout

    session: PromptSession = PromptSession(completer=WordCompleter(list(COMMANDS)))
    with patch_stdout():
        while True:
            try:
                yield await session.prompt_async("phone> ")
            except (EOFError, KeyboardInterrupt):
                return


async def _lines_from_pipe():
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        yield line.rstrip("\n")


async def run_handset(url: str | None, msisdn: str, token: str | None, service_code: str,
                      at_url: str | None = None, sandboxes: dict[str, str] | None = None,
                      fake_claude: bool = False, aggregator: str = "africastalking",
                      fleet: Fleet | None = None) -> int:
    async with contextlib.AsyncExitStack() as stack:
        settings = None
        if fake_claude and not url:          # in-process: the advisor answers through the fake Messages API
            from enerlectra.settings import Settings
            from simulator.fake_claude import pointed_at_fake

            settings = await stack.enter_async_context(pointed_at_fake(Settings.from_env()))
        transport = await stack.enter_async_context(connect(url, token, settings=settings, at_url=at_url,
                                                            sandboxes=sandboxes, aggregator=aggregator))
        handset = Handset(Phone(transport, msisdn, service_code), fleet=fleet)
        print(f"Enerlectra handset simulator: {msisdn} -> {redact_url(url) if url else 'in-process app'}"
              f" via {aggregator}. "
              f"Type `dial` to call {service_code}, `help` for commands.")
        if transport.at_url is None:
            print(NO_INBOX)
        lines = _lines_from_terminal() if sys.stdin.isatty() else _lines_from_pipe()
        async for line in lines:
            if not await handset.handle(line):
                break
    return 0
