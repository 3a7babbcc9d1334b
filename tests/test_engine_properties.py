"""Properties of the engine: whatever keys anyone presses, from any screen, in any language,
the reply is CON/END within budget in GSM-7, and the session is left in a known state."""
from __future__ import annotations

import copy
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enerlectra import i18n
from enerlectra.domain import users
from enerlectra.domain.phone import parse_msisdn
from enerlectra.domain.pin_code import hash_user_pin
from enerlectra.ussd.types import Session, UssdRequest
from tests.helpers import assert_screen_ok, new_session_id
from ussd_app import menu_tree
from ussd_app.engine.core import RESUME

KEYS = st.one_of(
    st.sampled_from(["", "0", "00", "98", "1", "2", "3", "4", "5", "9", "4826", "1234", "2580", "1111",
                     "Bwalya", "*", "1*2", "#", "ë", "€", "x" * 200, " 1 "]),
    st.text(max_size=12),
)
STATES = sorted(menu_tree.TREE.states)
_numbers = itertools.count(1000000)
RELAXED = settings(max_examples=60, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


async def _user(engine, lang: str, registered: bool) -> str:
    msisdn = f"+26097{next(_numbers):07d}"
    if registered:
        await users.register(engine.services.db, parse_msisdn(msisdn), "Bupe", lang,
                             hash_user_pin("4826", 16))
    return msisdn


async def _press_all(engine, sid: str, msisdn: str, keys: list[str], text: str = "") -> None:
    known = set(menu_tree.TREE.states) | {RESUME}
    for key in keys:
        text = key if not text else f"{text}*{key}"
        reply = await engine.handle(UssdRequest(sid, msisdn, "ZM", text))
        assert_screen_ok(reply.wire)
        stored = await engine.store.load_session(sid)
        if reply.end:
            assert stored is None, "an ended session is not kept"
            return
        assert stored.state in known


@RELAXED
@given(keys=st.lists(KEYS, max_size=12), lang=st.sampled_from(list(i18n.LANGUAGES)),
       registered=st.booleans())
async def test_any_keys_from_a_fresh_dial(engine, keys, lang, registered):
    msisdn = await _user(engine, lang, registered)
    sid = new_session_id()
    reply = await engine.handle(UssdRequest(sid, msisdn, "ZM", ""))
    assert_screen_ok(reply.wire)
    await _press_all(engine, sid, msisdn, keys)


@RELAXED
@given(state=st.sampled_from(STATES), keys=st.lists(KEYS, min_size=1, max_size=8),
       lang=st.sampled_from(list(i18n.LANGUAGES)))
async def test_any_keys_from_any_state(engine, state, keys, lang):
    spec = menu_tree.TREE.states[state]
    registered = not state.startswith("onboarding_")
    msisdn = await _user(engine, lang, registered)
    user = await users.get_by_msisdn(engine.services.db, msisdn)
    sid = new_session_id()
    session = Session(id=sid, msisdn=msisdn, country="ZM", state=state, lang=lang,
                      user_id=user.id if user else None, name=user.name if user else None,
                      data=copy.deepcopy(spec.sample), path="start", history=["main_menu"] if user else [])
    session.screen = {"body": ["(previous screen)"], "options": [], "end": False}
    reply = await engine._enter(session, state, spec.sample_input, "start",
                                undo=(state, copy.deepcopy(spec.sample), list(session.history)))
    assert_screen_ok(reply.wire)
    loaded = await engine.store.acquire(sid, "start")
    await engine.store.save(session, "start", reply, loaded.token, resumable=True)
    if not reply.end:
        await _press_all(engine, sid, msisdn, keys, text="start")
