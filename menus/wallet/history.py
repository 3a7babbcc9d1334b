"""History lines in words: what each entry was (Bought 2.0 kWh, Bid held, Cluster Kabwata ...), by its kind.

One short line per entry ("05/12 Sold 1.0 kWh +K1.20"), so four fit a page in every language; names are
cut to their first word and NAME_ROOM letters.
"""
from __future__ import annotations

from enerlectra.domain.money import format_energy, format_money
from enerlectra.domain.statement import Entry
from enerlectra.i18n import _

NAME_ROOM = 12


def _short(name: str) -> str:
    first = (name.split() or [""])[0]
    return first[:NAME_ROOM]


def label(e: Entry) -> str:
    """What the entry was, from its kind (and, for kinds that go both ways, which way it went)."""
    if e.kind == "trade":
        what = _("Bought {energy}") if e.side == "buy" else _("Sold {energy}")
        return what.format(energy=format_energy(e.wh or abs(e.energy)))
    if e.kind == "transfer":
        who = _short(e.other)
        return (_("Sent to {name}") if e.money < 0 else _("Received from {name}")).format(name=who)
    if e.kind == "contribution":
        return _("Cluster {name}").format(name=_short(e.other))
    if e.kind == "offer":
        return _("Offer listed")
    if e.kind == "release":
        return _("Offer back") if e.energy else _("Bid refund")
    fixed = {"bid": _("Bid held"), "meter": _("Meter"), "credit": _("Credit"), "collection": _("Deposit"),
             "payout-hold": _("Withdrawal"), "payout-release": _("Withdrawal refund")}
    return fixed.get(e.kind) or (_("Deposit") if (e.money or e.energy) > 0 else _("Withdrawal"))


def amount(e: Entry) -> str:
    """The money the entry moved in the wallet, else the kWh; signed. Nothing when a bought bid's kWh only
    arrived (its money moved when the bid was held, and the label says the kWh)."""
    if e.money:
        return ("+" if e.money > 0 else "-") + format_money(abs(e.money), e.currency)
    if e.energy and e.kind != "trade":
        return ("+" if e.energy > 0 else "-") + format_energy(abs(e.energy))
    return ""


def line(e: Entry) -> str:
    when = e.when.strftime("%d/%m") if e.when else ""
    return " ".join(part for part in (when, label(e), amount(e)) if part)
