"""Compiled catalogs are kept beside their .po (enerlectra/i18n.py): what is read back is what Babel compiles,
for every language, and an edited .po is compiled again."""
from __future__ import annotations

import gettext
import io
from importlib import resources

import pytest

from enerlectra import i18n


@pytest.mark.parametrize("code", sorted(i18n.LANGUAGES))
def test_every_language_serves_exactly_what_babel_compiles_from_its_po(code):
    po = resources.files("locales") / code / "LC_MESSAGES" / "messages.po"
    fresh = i18n.load_po(po, code)                  # from the kept copy (written by the first load if none)
    compiled = i18n.compile_po(po.read_bytes(), code)
    expected = gettext.GNUTranslations(io.BytesIO(compiled))
    assert fresh._catalog == expected._catalog and len(fresh._catalog) > (1 if code == "en" else 100)
    assert i18n.catalog(code)._catalog == expected._catalog


PO = '''msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

msgid "Wallet"
msgstr "{}"
'''


def test_a_kept_catalog_is_read_back_and_an_edited_po_compiled_again(tmp_path, monkeypatch):
    po = tmp_path / "messages.po"
    po.write_text(PO.format("Pochi"), encoding="utf-8")
    assert i18n.load_po(po, "sw").gettext("Wallet") == "Pochi"
    kept = sorted(p.name for p in tmp_path.glob("messages-*.mo"))
    assert len(kept) == 1

    def no_compiling(source, code):
        raise AssertionError("compiled again although the .po did not change")
    monkeypatch.setattr(i18n, "compile_po", no_compiling)
    assert i18n.load_po(po, "sw").gettext("Wallet") == "Pochi"
    monkeypatch.undo()

    po.write_text(PO.format("Mkoba"), encoding="utf-8")
    assert i18n.load_po(po, "sw").gettext("Wallet") == "Mkoba"
    now = sorted(p.name for p in tmp_path.glob("messages-*.mo"))
    assert len(now) == 1 and now != kept            # the copy of the old .po is gone


def test_a_damaged_kept_catalog_is_compiled_again(tmp_path):
    po = tmp_path / "messages.po"
    po.write_text(PO.format("Pochi"), encoding="utf-8")
    i18n.load_po(po, "sw")
    (kept,) = tmp_path.glob("messages-*.mo")
    kept.write_bytes(b"not a catalog")
    assert i18n.load_po(po, "sw").gettext("Wallet") == "Pochi"
    assert kept.read_bytes() != b"not a catalog"
