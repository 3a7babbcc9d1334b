"""Translations: English msgids, catalogs for en, bem, nya, sw compiled from the .po files at first use.

Compiling a .po with Babel costs 10-15 ms of CPU a language (with Babel's parser imported: a tenth of a
second of `serve`'s cold start, more on a busy box), so the compiled catalog is kept beside its .po as
messages-<hash of the .po>.mo (ignored by git) and read from there while the .po is unchanged; where the
package cannot be written, it is compiled in memory each time, as before.

The current language lives in a ContextVar, so concurrent hops in one process never mix languages.
Strings declared at import time use `lazy_gettext`; never format before translating.
"""
from __future__ import annotations

import contextlib
import gettext as _gettext
import hashlib
import io
import os
import tempfile
from contextvars import ContextVar
from functools import cache
from importlib import resources
from typing import Iterator

from babel.support import LazyProxy

# Code -> the language's name in itself (what a user looks for on the language screen).
LANGUAGES: dict[str, str] = {"en": "English", "bem": "Ichibemba", "nya": "Chinyanja", "sw": "Kiswahili"}
DEFAULT_LANGUAGE = "en"

_current: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


@cache
def catalog(code: str) -> _gettext.NullTranslations:
    """locales/<code>/LC_MESSAGES/messages.po, compiled (no .mo files are committed; see the module's note)."""
    if code not in LANGUAGES:
        raise KeyError(f"unknown language {code!r}")
    return load_po(resources.files("locales") / code / "LC_MESSAGES" / "messages.po", code)


def load_po(po, code: str) -> _gettext.GNUTranslations:
    """One .po (a path or importlib.resources file), from its compiled copy while the .po is unchanged."""
    source = po.read_bytes()
    compiled = po.parent / f"messages-{hashlib.sha256(source).hexdigest()[:16]}.mo"
    try:
        return _gettext.GNUTranslations(io.BytesIO(compiled.read_bytes()))
    except Exception:                      # not compiled yet, unreadable or damaged: compile it (again) now
        pass
    mo = compile_po(source, code)
    _keep(compiled, mo)
    return _gettext.GNUTranslations(io.BytesIO(mo))


def compile_po(source: bytes, code: str) -> bytes:
    """A .po's bytes compiled to a .mo's with Babel (imported only when a catalog is compiled)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    buf = io.BytesIO()
    write_mo(buf, read_po(io.BytesIO(source), locale=code))
    return buf.getvalue()


def _keep(compiled, mo: bytes) -> None:
    """Write the compiled catalog atomically beside its .po (a reader never sees half a file) and drop the
    ones of earlier .po versions; silently nothing where the package is read-only."""
    try:
        folder = os.fspath(compiled.parent)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".messages-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(mo)
            os.replace(temporary, os.fspath(compiled))
        except BaseException:
            os.unlink(temporary)
            raise
        for old in compiled.parent.iterdir():
            if old.name.startswith("messages-") and old.name.endswith(".mo") and old.name != compiled.name:
                os.unlink(os.fspath(old))
    except (OSError, TypeError):           # read-only, or a package not on a file system (a zip)
        pass


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
