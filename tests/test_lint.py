"""`menus lint` passes on the installed tree, and fails on trees that break each rule."""
from __future__ import annotations

import subprocess
import sys

import pytest

from enerlectra.ussd.feature import Feature, Go, State
from enerlectra.ussd.types import Ctx, Nav, Screen
from menus import main, onboarding
from menus.common import press
from ussd_app import lint as lint_mod
from ussd_app.engine.tree import MenuTree


def test_installed_tree_is_clean():
    assert lint_mod.lint() == []


def test_cli_lint_exits_0_and_graph_prints_mermaid():
    ok = subprocess.run([sys.executable, "-m", "ussd_app.cli", "menus", "lint"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    graph = subprocess.run([sys.executable, "-m", "ussd_app.cli", "menus", "graph"], capture_output=True, text=True)
    assert graph.stdout.startswith("flowchart TD")
    assert "main_menu -->|press_3| settings_menu" in graph.stdout


async def _not_gsm(ctx: Ctx) -> Screen:
    return Screen(["Zoë's menu"], [("1", "ok")])


async def _stuck(ctx: Ctx) -> Screen:
    return Screen(["Nothing to press here"])


async def _ok(ctx: Ctx) -> Screen:
    return Screen(["Fine"], [("1", "Next")])


def _tree(*states: State, transitions=()) -> MenuTree:
    feature = Feature(name="bad", entry="start", title=None, states=(State("start", _ok), *states),
                      transitions=(Go("start", "start", press("1")), *transitions))
    features = [onboarding.FEATURE, feature]
    return MenuTree(features + [main.build(features)], home="main_menu", start="onboarding_language")


@pytest.mark.parametrize("states,transitions,expected", [
    ((State("orphan", _ok),), (Go("orphan", "start", press("1")),), "bad_orphan: unreachable"),
    ((State("ugly", _not_gsm),), (Go("start", "ugly", press("2")), Go("ugly", "start", press("1"))),
     "not GSM-7 ['ë']"),
    ((State("stuck", _stuck, nav=Nav.NONE),), (Go("start", "stuck", press("3")),), "dead end: bad_stuck"),
])
def test_lint_catches(states, transitions, expected):
    problems = [str(p) for p in lint_mod.lint(_tree(*states, transitions=transitions))]
    assert any(expected in p for p in problems), problems


def test_lint_catches_an_over_budget_page():
    problems = lint_mod.check_pages("en demo", ["x" * 161])
    assert [str(p) for p in problems] == [f"en demo page 1: 161 > 160 septets: {'x' * 161!r}"]


def test_lint_catches_a_missing_translation(monkeypatch):
    monkeypatch.setattr(lint_mod, "source_msgids", lambda: {("A brand new string", None): "menus/x.py:1"})
    problems = [str(p) for p in lint_mod.check_catalogs()]
    assert {p.split(" ")[0] for p in problems} == {"bem", "nya", "sw"}
    assert all("no translation for 'A brand new string'" in p for p in problems)


def test_every_catalog_is_complete_and_marked_for_review():
    from importlib import resources
    for code in ("bem", "nya", "sw"):
        po = (resources.files("locales") / code / "LC_MESSAGES" / "messages.po").read_text()
        assert "X-Machine-Translation: yes; awaiting review by a native speaker" in po


def test_lint_catches_an_sms_template_over_its_segment_budget(monkeypatch):
    import ussd_app.lint_samples as templates

    long = templates.Template("essay", lambda: "word " * 70)           # 350 septets: 3 segments
    monkeypatch.setattr(templates, "TEMPLATES", (long, templates.Template("ok essay", long.render, 3)))
    problems = [str(p) for p in lint_mod.check_sms_templates()]
    assert len(problems) == 4 and all("sms essay: 3 segments > 2" in p for p in problems), problems


def test_every_sms_template_fits_two_segments_in_every_language():
    assert lint_mod.check_sms_templates() == []
    assert lint_mod.check_keyword_aliases() == []


async def _long_prompt(ctx: Ctx) -> Screen:
    return Screen(["How many kWh? " + "word " * 30])


async def _spilling_prompt(ctx: Ctx) -> Screen:
    return Screen(["How many kWh? " + "word " * 24])        # one page alone; two with the hint on top


def _anything(session, text: str) -> bool:
    return True


@pytest.mark.parametrize("renderer,expected", [
    (_long_prompt, "bad_prompt: an input screen takes 2 pages"),
    (_spilling_prompt, "bad_prompt (after a wrong key): an input screen takes 2 pages"),
    (_ok, None),                                              # a list to pick from may page (98 More)
])
def test_lint_wants_every_input_screen_on_one_page(renderer, expected):
    prompt = State("prompt", renderer, hint="Type the kWh to sell, like 2 or 2.5, in steps of 0.1 kWh.")
    tree = _tree(prompt, transitions=(Go("start", "prompt", press("2")), Go("prompt", "start", _anything)))
    problems = [str(p) for p in lint_mod.lint(tree) if "input screen" in str(p)]
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems) and len(problems) == 4, problems   # once per language
