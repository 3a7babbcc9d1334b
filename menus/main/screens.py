"""The main menu screen: installed features, numbered in their menu order."""
from __future__ import annotations

from ussd_app.engine.tree import Feature
from ussd_app.engine.types import Ctx, Rendered, Screen
from ussd_app.i18n import _


def menu_renderer(entries: list[Feature]):
    async def menu(ctx: Ctx) -> Rendered:
        greeting = _("Enerlectra - hi {name}").format(name=ctx.session.name or "")
        return Screen([greeting], [(str(i), str(f.title)) for i, f in enumerate(entries, start=1)])
    return menu
