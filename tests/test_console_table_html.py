"""A console table's rows built in Python (render.Table.body_html) are the HTML the template loop made before
(kept here verbatim as the reference): numbers marked, linked columns linked, every value escaped, whatever the
values (text with markup in it, numbers, booleans, None, Markup)."""
from __future__ import annotations

import jinja2
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from ussd_app.console.render import Table

# The macro's rows as they were, a template loop per cell, verbatim: the reference. The macro now puts
# body_html() between the same <tbody> lines.
LOOP = """<tbody>
{% for row in t.rows %}<tr>{% for v in row %}{% set i = loop.index0 %}<td{% if v is number %} class="num"{% endif %}>\
{% if i in t.links and v is not none %}<a href="{{ t.links[i].format(v) }}">{{ v }}</a>{% else %}\
{{ '' if v is none else v }}{% endif %}</td>{% endfor %}</tr>
{% endfor %}
</tbody>"""
env = jinja2.Environment(loader=jinja2.PackageLoader("ussd_app.console", "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined)
MACRO_BODY = "<tbody>\n{{ t.body_html() }}\n</tbody>"

values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                   st.sampled_from(["<b>", "a&b", '"q"', "'", "R-0000001", "PB00012345"]),
                   st.text(max_size=8).map(Markup))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(values, min_size=3, max_size=3), max_size=6),
       links=st.dictionaries(st.integers(0, 3), st.sampled_from(["/console/users/{}", "/x?q={}&r=1"]),
                             max_size=2))
def test_rows_built_in_python_are_the_template_loops_html(rows, links):
    table = Table("t", ["a", "b", "c"], rows, links=links)
    assert MACRO_BODY in env.loader.get_source(env, "_macros.html")[0]
    assert env.from_string(MACRO_BODY).render(t=table) == env.from_string(LOOP).render(t=table)


def test_a_value_with_markup_is_escaped_in_the_cell_and_the_link():
    html = Table("t", ["a"], [["<script>x</script>"]], links={0: "/s/{}"}).body_html()
    assert "<script>" not in html and html.count("&lt;script&gt;") == 2
