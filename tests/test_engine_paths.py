"""Engine paths no installed menu exercises yet: long lists (98 More), internal errors, expiry.

A small test feature is compiled into its own tree; the engine runs on the real Redis and SQL.
"""
from __future__ import annotations

import asyncio
import logging

import pytest

from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.i18n import lazy_gettext
from enerlectra.ussd.feature import Feature, Go, State
from enerlectra.ussd.types import Ctx, Screen, UssdRequest
from menus import main, onboarding
from menus import settings as settings_menu
from menus.common import press
from tests.helpers import assert_screen_ok, new_session_id
from ussd_app.engine.core import Engine
from ussd_app.engine.store import SessionStore
from ussd_app.engine.tree import MenuTree

OFFERS = [f"Offer {n}: {n} kWh at 1.{n:02d} ZMW" for n in range(1, 21)]


async def long_list(ctx: Ctx) -> Screen:
    return Screen(["Pick an offer:"], [(str(n), label) for n, label in enumerate(OFFERS, start=1)]
                  + [("21", "Write a note")])


async def note(ctx: Ctx) -> Screen:
    return Screen(["Type a note:"])


async def picked(ctx: Ctx) -> Screen:
    return Screen([f"You picked {ctx.text}."], end=True)


async def explode(ctx: Ctx) -> Screen:
    raise ZeroDivisionError("a bug in a renderer")


def _is_offer(session, text: str) -> bool:
    return text in {str(n) for n in range(1, len(OFFERS) + 1)}


DEMO = Feature(
    name="demo", entry="list", title=lazy_gettext("Settings"), order=1,
    states=(State("list", long_list), State("note", note), State("picked", picked), State("boom", explode)),
    transitions=(Go("list", "picked", _is_offer), Go("list", "note", press("21")),
                 Go("note", "boom", press("0000"))),
)


def _tree() -> MenuTree:
    features = [onboarding.FEATURE, settings_menu.FEATURE, DEMO]
    return MenuTree(features + [main.build(features)], home="main_menu", start="onboarding_language")


@pytest.fixture
async def demo(client, settings):
    live = client.app  # the app's Redis and SQL, a tree of our own
    from ussd_app import appkeys
    real = live[appkeys.ENGINE]
    store = SessionStore(real.store.redis, settings.redis_prefix, settings.session_ttl, 1, 5000, 8000)
    engine = Engine(_tree(), store, real.services, real.metrics)
    msisdn = "+260971500001"
    await users.register(real.services.db, parse_msisdn(msisdn), "Lubuto", "en", hash_user_pin("4826", 16))
    return engine, msisdn


class Phone:
    def __init__(self, engine, msisdn):
        self.engine, self.msisdn, self.sid, self.inputs = engine, msisdn, new_session_id(), []

    async def dial(self):
        self.sid, self.inputs = new_session_id(), []
        return await self._hop()

    async def press(self, key):
        self.inputs.append(key)
        return await self._hop()

    async def _hop(self):
        reply = await self.engine.handle(UssdRequest(self.sid, self.msisdn, "ZM", "*".join(self.inputs)))
        assert_screen_ok(reply.wire)
        return reply


async def test_long_list_pages_with_98_and_keeps_global_numbers(demo):
    phone = Phone(*demo)
    await phone.dial()
    first = await phone.press("1")                      # main menu item 1 is the demo list
    assert "1 Offer 1" in first.text and "98 More" in first.text and "20 Offer 20" not in first.text
    pages = [first]
    while "98 More" in pages[-1].text:
        pages.append(await phone.press("98"))
    assert len(pages) >= 3
    assert "21 Write a note" in pages[-1].text
    shown = "\n".join(p.text for p in pages)
    assert all(f"{n} Offer {n}:" in shown for n in range(1, 21)), "every option on some page"
    back = await phone.press("0")                       # 0 on a later page: the previous page
    assert back.text == pages[-2].text
    done = await phone.press("17")                      # numbers mean the same on every page
    assert done.end and "You picked 17." in done.text


async def test_internal_error_ends_with_an_apology_logged_with_the_session_id(demo, caplog):
    phone = Phone(*demo)
    await phone.dial()
    await phone.press("1")
    await phone.press("21")                             # a journey in progress: a note half typed
    with caplog.at_level(logging.ERROR, logger="ussd_app.engine.core"):
        reply = await phone.press("0000")
    assert reply.end and reply.text == "Sorry, something went wrong. Please dial again."
    assert any(phone.sid in r.getMessage() and r.exc_info for r in caplog.records)
    again = await phone.dial()                          # the last good screen is offered again
    assert "Continue where you left off?" in again.text
    resumed = await phone.press("1")
    assert "Type a note:" in resumed.text


async def test_resume_offer_expires(demo):
    phone = Phone(*demo)                                 # the demo store keeps resume points 1 s
    await phone.dial()
    await phone.press("1")
    assert "Type a note:" in (await phone.press("21")).text
    await asyncio.sleep(1.2)
    again = await phone.dial()
    assert "Continue" not in again.text and "Enerlectra - hi Lubuto" in again.text


async def test_unknown_redirect_target_is_refused_when_the_tree_is_built():
    bad = Feature(name="bad", entry="one",
                  states=(State("one", long_list, redirects=("nowhere_at_all",)),), transitions=())
    with pytest.raises(ValueError, match="unknown state"):
        MenuTree([bad], home="bad_one", start="bad_one")


async def test_transition_to_an_unknown_state_is_refused_when_the_tree_is_built():
    bad = Feature(name="bad", entry="one", states=(State("one", long_list),),
                  transitions=(Go("one", "two", press("1")),))
    with pytest.raises(ValueError, match="unknown state 'bad_two'"):
        MenuTree([bad], home="bad_one", start="bad_one")


async def test_a_hop_stuck_holding_the_lock_makes_the_next_one_say_busy(demo, settings):
    engine, msisdn = demo
    store = SessionStore(engine.store.redis, settings.redis_prefix, settings.session_ttl, 1, 5000, 50)
    impatient = Engine(engine.tree, store, engine.services, engine.metrics)
    sid = new_session_id()
    await store.redis.set(store._key(sid, "lock"), "someone-else", px=5000)
    reply = await impatient.handle(UssdRequest(sid, msisdn, "ZM", ""))
    assert reply.end and reply.text == "Sorry, we are busy. Please dial again."
    assert await store.redis.get(store._key(sid, "lock")) == b"someone-else", "not ours to release"


@pytest.mark.parametrize("lock_ms,runs_s,renewed", [(3000, 0.005, False), (300, 0.9, True)])
async def test_a_slow_hop_keeps_its_lock_and_a_quick_one_starts_no_renewal(demo, settings, lock_ms, runs_s,
                                                                           renewed):
    """The lock is renewed from a third of its timeout on while the hop runs (a slow provider call: three
    timeouts here); a hop over before that leaves only a cancelled timer behind."""
    engine, _msisdn = demo
    store = SessionStore(engine.store.redis, settings.redis_prefix, settings.session_ttl, 1, lock_ms, 50)
    sid = new_session_id()
    loaded = await store.acquire(sid, "")
    renewal = store.keep_alive_soon(sid, loaded.token)
    await asyncio.sleep(runs_s)
    try:
        assert await store.redis.get(store._key(sid, "lock")) == loaded.token.encode(), "still ours"
        assert (renewal._task is not None) == renewed
    finally:
        renewal.cancel()
        await store.release(sid, loaded.token)
