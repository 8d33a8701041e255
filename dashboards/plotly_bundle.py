"""The partial plotly.js the dashboard ships instead of dcc.Graph's full bundle.

dcc.Graph draws with ``window.Plotly`` when a page already has one and only otherwise
fetches Dash's full plotly.js (4.8 MB, every trace type). The first page of a fresh browser
spent most of its time compiling that file, so the dashboard serves the official *basic*
distribution of the same plotly.js release (1.2 MB: bar, pie and scatter traces, all its
figures need) from ``assets/vendor/``; Dash puts every ``.js`` under ``assets/`` on the page
before its renderer starts. Origin, version and licence are in ``assets/vendor/README.md``.

The bundle is used only when it is the plotly.js release the installed plotly.py writes
figures for; otherwise (or when the file is missing) the app leaves it out and dcc.Graph
loads its own full bundle, so a plotly upgrade can slow the first page but never break one.
"""

from __future__ import annotations

import re
from pathlib import Path

from plotly.offline import get_plotlyjs_version

ASSETS = Path(__file__).with_name("assets")
VENDORED = ASSETS / "vendor" / "plotly-basic.min.js"
# The trace modules of plotly.js-basic-dist-min (its README); every figure in figures.py must
# use only these: tests/test_dashboard_figures.py checks the figures, the browser test the bundle.
TRACE_TYPES = frozenset({"bar", "pie", "scatter"})
# Dash's assets_ignore is a regex searched in each file name under assets/.
IGNORE_PATTERN = r"^" + re.escape(VENDORED.name) + r"$"
_HEADER = re.compile(r"\* plotly\.js \(basic - minified\) v(\d+\.\d+\.\d+\S*)")


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
