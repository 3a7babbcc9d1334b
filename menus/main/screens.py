"""The main menu screen: installed features, numbered in their menu order. A user with a PIN reset waiting
goes to choose the new PIN instead."""
from __future__ import annotations

from enerlectra.i18n import _
from enerlectra.ussd.feature import Feature
from enerlectra.ussd.types import Ctx, Redirect, Rendered, Screen


def menu_renderer(entries: list[Feature], reset_state: str | None = None):
    async def menu(ctx: Ctx) -> Rendered:
        # Only as the dial opens: "the next dial" chooses the PIN, and Home within a call reads no SQL. The
        # dial read the reset with its user, in one query (users.at_dial: what pin_resets.due says).
        if reset_state and ctx.opening and ctx.session.reset_due:
            return Redirect(reset_state)
        greeting = _("Enerlectra - hi {name}").format(name=ctx.session.name or "")
        return Screen([greeting], [(str(i), str(f.title)) for i, f in enumerate(entries, start=1)])
    return menu
