"""The partial plotly.js that the HTML report embeds and the dashboard serves, instead of the full bundle.

plotly.py's own bundle (4.8 MB, every trace type) is what an HTML report would otherwise embed
and what dcc.Graph would otherwise fetch. The official *basic* distribution of the same plotly.js
release (1.2 MB: bar, pie and scatter traces, all the report's and the dashboard's figures need)
is vendored in ``abkit/report/vendor/``; origin, version and licence are in its README.md. The
dashboard puts it on the page before its renderer starts, so dcc.Graph draws with the page's
``window.Plotly`` and never fetches its own.

The bundle is used only when it is the plotly.js release the installed plotly.py writes figures
for; otherwise (or when the file is missing) both fall back to the full bundle, so a plotly
upgrade can make a report bigger or a first page slower but never break one.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from plotly.offline import get_plotlyjs, get_plotlyjs_version

VENDORED = Path(__file__).with_name("vendor") / "plotly-basic.min.js"
# The trace modules of plotly.js-basic-dist-min (its README); every figure of the report and the
# dashboard must use only these (tests/test_dashboard_plotly_bundle.py, tests/test_report_html.py).
TRACE_TYPES = frozenset({"bar", "pie", "scatter"})
_HEADER = re.compile(r"\* plotly\.js \(basic - minified\) v(\d+\.\d+\.\d+\S*)")


def plotly_text(text: object) -> str:
    """``text`` for a plotly label (axis category, legend, hover or bar text) shown as written.

    plotly.js reads labels as pseudo-HTML: ``<a href>`` becomes a link, ``<b>``, ``<br>`` and
    entities are drawn. Names from the events (versions, experiments, arms, templates) are escaped
    so that a version called ``<a href="https://...">v1</a>`` is shown as that, not as a link "v1".
    """
    return html.escape(str(text), quote=False)


def bundle_version(path: Path = VENDORED) -> str | None:
    """The plotly.js release named in a basic bundle's licence header, None when there is none.

    Args:
        path: a ``plotly-basic.min.js`` as published on npm (its first lines are the header).
    """
    try:
        with path.open("rb") as file:
            head = file.read(512).decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    match = _HEADER.search(head)
    return match.group(1) if match else None


def unusable_reason(path: Path = VENDORED, expected: str | None = None) -> str | None:
    """Why the vendored bundle must not replace dcc's full one, or None when it may.

    Args:
        path: the vendored bundle.
        expected: the plotly.js release figures are written for (default: the one bundled
            with the installed plotly.py, which dcc.Graph would otherwise load).
    """
    expected = expected or get_plotlyjs_version()
    found = bundle_version(path)
    if found is None:
        return f"{path} is missing or has no plotly.js basic header"
    if found != expected:
        return f"{path} is plotly.js {found}, but plotly.py writes figures for plotly.js {expected}"
    return None


def plotly_js() -> str:
    """The plotly.js source to embed in a self-contained page: the basic bundle when usable, else the full one."""
    if unusable_reason() is None:
        return VENDORED.read_text(encoding="utf-8")
    return get_plotlyjs()
