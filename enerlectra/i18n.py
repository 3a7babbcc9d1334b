"""Translations: English msgids, catalogs for en, bem, nya, sw compiled from the .po files at first use.

The current language lives in a ContextVar, so concurrent hops in one process never mix languages.
Strings declared at import time use `lazy_gettext`; never format before translating.
"""
from __future__ import annotations

import contextlib
import gettext as _gettext
import io
from contextvars import ContextVar
from functools import cache
from importlib import resources
from typing import Iterator

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy

# Code -> the language's name in itself (what a user looks for on the language screen).
LANGUAGES: dict[str, str] = {"en": "English", "bem": "Ichibemba", "nya": "Chinyanja", "sw": "Kiswahili"}
DEFAULT_LANGUAGE = "en"

_current: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


@cache
def catalog(code: str) -> _gettext.NullTranslations:
    """Compile locales/<code>/LC_MESSAGES/messages.po in memory (no .mo files are committed)."""
    if code not in LANGUAGES:
        raise KeyError(f"unknown language {code!r}")
    po = resources.files("locales") / code / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as f:
        parsed = read_po(f, locale=code)
    buf = io.BytesIO()
    write_mo(buf, parsed)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def load_all() -> None:
    """Compile every catalog now (at start-up), so no hop pays for it."""
    for code in LANGUAGES:
        catalog(code)


def current() -> str:
    return _current.get()


def use(code: str) -> None:
    _current.set(code if code in LANGUAGES else DEFAULT_LANGUAGE)


@contextlib.contextmanager
def language(code: str) -> Iterator[None]:
    token = _current.set(code if code in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(msgid: str) -> str:
    return catalog(_current.get()).gettext(msgid)


_ = gettext


def pgettext(context: str, msgid: str) -> str:
    return catalog(_current.get()).pgettext(context, msgid)


def pgettext_noop(context: str, msgid: str) -> str:
    """Marks a message for extraction (with its context) without translating it here."""
    return msgid


def in_language(code: str, msgid: str, context: str | None = None) -> str:
    """One message in a given language, whatever the current one is (keyword aliases, lint)."""
    cat = catalog(code)
    return cat.pgettext(context, msgid) if context else cat.gettext(msgid)


def in_language_of(user, render, *args) -> str:
    """`render(user, *args)` in `user`'s language, whatever the current one is (an SMS to someone else)."""
    with language(user.language):
        return render(user, *args)


def lazy_gettext(msgid: str) -> LazyProxy:
    return LazyProxy(gettext, msgid, enable_cache=False)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for `n` in the current language (its catalog's Plural-Forms); format after choosing."""
    return catalog(_current.get()).ngettext(singular, plural, n)
