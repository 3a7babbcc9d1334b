"""A console table's rows built in Python (render.Table.body_html) are the HTML the template loop made before
(kept here verbatim as the reference): numbers marked, linked columns linked, every value escaped, whatever the
values (text with markup in it, numbers, booleans, None, Markup)."""
from __future__ import annotations

import jinja2
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from ussd_app.console.render import Table

# The `table` macro as it was, a template loop per cell, verbatim: the reference.
LOOP_MACRO = """{% macro table(t) -%}
{% if t.title %}<h3>{{ t.title }}</h3>{% endif %}
<p><a class="csv" href="{{ csv_link(t.name) }}">Download CSV</a></p>
{% if t.rows %}
<table id="table-{{ t.name }}">
<thead><tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in t.rows %}<tr>{% for v in row %}{% set i = loop.index0 %}<td{% if v is number %} class="num"{% endif %}>\
{% if i in t.links and v is not none %}<a href="{{ t.links[i].format(v) }}">{{ v }}</a>{% else %}\
{{ '' if v is none else v }}{% endif %}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
{% else %}<p class="muted">{{ t.empty }}</p>{% endif %}
{%- endmacro %}"""
env = jinja2.Environment(loader=jinja2.ChoiceLoader([
    jinja2.DictLoader({"loop.html": LOOP_MACRO, "old.html": '{% from "loop.html" import table with context %}'
                       '{{ table(t) }}', "new.html": '{% from "_macros.html" import table with context %}'
                       '{{ table(t) }}'}),
    jinja2.PackageLoader("ussd_app.console", "templates")]), autoescape=True, undefined=jinja2.StrictUndefined)

values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                   st.sampled_from(["<b>", "a&b", '"q"', "'", "R-0000001", "PB00012345"]),
                   st.text(max_size=8).map(Markup))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(values, min_size=3, max_size=3), max_size=6),
       links=st.dictionaries(st.integers(0, 3), st.sampled_from(["/console/users/{}", "/x?q={}&r=1"]),
                             max_size=2))
def test_rows_built_in_python_are_the_template_loops_html(rows, links):
    table = Table("t", ["a", "b", "c"], rows, links=links)
    context = {"t": table, "csv_link": lambda name: f"?format=csv&table={name}"}
    html = env.get_template("new.html").render(context)
    assert html == env.get_template("old.html").render(context) and ("<tbody>" in html) == bool(rows)


def test_a_value_with_markup_is_escaped_in_the_cell_and_the_link():
    html = Table("t", ["a"], [["<script>x</script>"]], links={0: "/s/{}"}).body_html()
    assert "<script>" not in html and html.count("&lt;script&gt;") == 2
