"""The package's public names, and its purity: importing abkit.stats pulls in no I/O stack."""

import subprocess
import sys

import abkit.stats


def test_public_names_resolve():
    for name in abkit.stats.__all__:
        assert getattr(abkit.stats, name) is not None


def test_import_pulls_in_no_database_web_or_torch_modules():
    code = (
        "import sys, abkit.stats; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'sqlalchemy', 'dash', 'torch', 'polars', 'pandas'}); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"abkit.stats imported {out}"
