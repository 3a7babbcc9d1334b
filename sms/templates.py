"""Every SMS text we send, rendered worst-case for `menus lint`: at most 2 segments unless stated."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sms import inbound
from sms.commands import help as help_cmd
from sms.commands import lang, optout
from ussd_app.i18n import _

LONGEST_NAME = "Mwansa Chilufya Bwal"        # NAME_MAX letters


def welcome_text(name: str) -> str:
    return _("Welcome to Enerlectra, {name}! Dial *123# any time for your menu. Send HELP to learn our SMS "
             "commands.").format(name=name)


@dataclass(frozen=True)
class Template:
    name: str
    render: Callable[[], str]          # in the current language, with worst-case values
    max_segments: int = 2


TEMPLATES: tuple[Template, ...] = (
    Template("welcome", lambda: welcome_text(LONGEST_NAME)),
    Template("help", help_cmd.help_text),
    Template("lang usage", lang.usage),
    Template("lang changed", lambda: lang.done("Chinyanja")),
    Template("stop", optout.stopped),
    Template("start", optout.started),
    Template("unknown command", inbound.unknown_text),
    Template("join first", inbound.join_first_text),
)
