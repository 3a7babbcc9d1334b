"""SMS keyword commands: one module each, found by keyword or by its alias in any of our languages.

An alias is the keyword's translation (msgctxt "sms keyword") in each catalog, so translators add
aliases (MSAADA for HELP) without touching code.
"""
from __future__ import annotations

from functools import cache

from sms.commands import ask, bal, carbon, clusters
from sms.commands import help as help_cmd
from sms.commands import lang, market, optout, rentals, yes
from sms.commands.base import Command, CommandCtx, spoken

COMMANDS: tuple[Command, ...] = (help_cmd.COMMAND, lang.COMMAND, optout.STOP, optout.START, bal.COMMAND,
                                 ask.COMMAND, market.PRICE, market.ALERT, market.SELL_CMD, market.BUY_CMD,
                                 yes.YES, clusters.NO, clusters.VOTE, clusters.JOIN, clusters.CLUSTER,
                                 carbon.COMMAND, rentals.RENT, rentals.MY_RENTAL)


@cache
def aliases() -> dict[str, Command]:
    """Every accepted first word, upper-cased -> its command."""
    table: dict[str, Command] = {}
    for command in COMMANDS:
        for word in spoken(command.keyword):
            if table.get(word, command) is not command:
                raise ValueError(f"SMS keyword {word!r} means both {table[word].name} and {command.name}")
            table[word] = command
    return table


def parse(text: str) -> tuple[Command | None, list[str]]:
    """Split an inbound text into its command (None if unknown) and arguments. Case-insensitive."""
    words = text.strip().split()
    if not words:
        return None, []
    return aliases().get(words[0].upper().strip(".,!?")), words[1:]


__all__ = ["COMMANDS", "Command", "CommandCtx", "aliases", "parse"]
