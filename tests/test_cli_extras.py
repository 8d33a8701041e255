"""abkit.cli.extras: a command whose extra is missing names it in one line and exits 2."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from abkit.cli.extras import EXTRA_MODULES, requires_extra
from abkit.cli.main import cli


def _missing(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    # None in sys.modules makes `import name` raise ModuleNotFoundError(name=name), as if not installed.
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_missing_module_of_the_extra_exits_2_with_one_line(monkeypatch, capsys):
    _missing(monkeypatch, "torch")
    with pytest.raises(SystemExit) as exit_info, requires_extra("serve", "serve"):
        import torch  # noqa: F401
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "abkit serve: needs the serve extra: pip install 'abkit[serve]'\n"


def test_other_missing_modules_propagate(monkeypatch):
    _missing(monkeypatch, "not_an_abkit_dependency")
    with pytest.raises(ModuleNotFoundError), requires_extra("serve", "serve"):
        import not_an_abkit_dependency  # type: ignore[import-not-found]  # noqa: F401


def test_extras_match_pyproject():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert set(EXTRA_MODULES) <= set(project["optional-dependencies"])


@pytest.mark.parametrize(
    ("args", "modules", "line"),
    [
        (["serve", "--model", "m"], ("torch", "uvicorn"), "abkit serve: needs the serve extra"),
        (["tune-batching", "--model", "m"], ("torch",), "abkit tune-batching: needs the serve extra"),
        (
            ["loadtest", "--url", "http://127.0.0.1:1", "--rps", "1"],
            ("httpx",),
            "abkit loadtest: needs the serve extra",
        ),
        (["train", "demo-model", "--out", "m"], ("transformers",), "abkit train: needs the train extra"),
        (["dashboard", "--db", "x.sqlite"], ("dash",), "abkit dashboard: needs the dashboard extra"),
        (["demo", "--db", "x.sqlite"], ("dash",), "abkit demo: needs the dashboard extra"),
        (["simulate", "--serve-url", "http://127.0.0.1:1"], ("httpx",), "needs the serve extra"),
        # duckdb_engine is what a duckdb:/// URL or an export directory needs first; pyarrow reads Parquet
        (["report", "--db", "duckdb:///x.duckdb"], ("duckdb_engine",), "abkit report: needs the duckdb extra"),
        (["report", "--db", "exports"], ("duckdb_engine",), "abkit report: needs the duckdb extra"),
        (
            ["simulate", "--db", "duckdb:///x.duckdb", "-q"],
            ("duckdb_engine",),
            "abkit simulate: needs the duckdb extra",
        ),
        (
            ["ingest", "--db", "duckdb:///x.duckdb", "cases.csv"],
            ("duckdb_engine",),
            "abkit ingest: needs the duckdb extra",
        ),
        (["ingest", "--db", "x.sqlite", "cases.parquet"], ("pyarrow",), "abkit ingest: needs the duckdb extra"),
    ],
)
def test_commands_name_their_extra(monkeypatch, tmp_path, args, modules, line):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "selections.csv").write_text("selection_id\n")
    (tmp_path / "cases.csv").write_text("case_id,handle_time_s,closed_at\nc1,300,2026-01-05T10:00:00\n")
    (tmp_path / "cases.parquet").write_bytes(b"PAR1" + bytes(64))  # a Parquet header is all the check before pyarrow
    # drop the already imported modules of abkit and its dependencies that would import the missing ones
    for name in list(sys.modules):
        if name.startswith(("abkit.serving", "abkit.loadtest", "abkit.simulate.live", "abkit.training", "dashboards")):
            monkeypatch.delitem(sys.modules, name)
    _missing(monkeypatch, *modules)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert line in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "x.duckdb").exists() and not (tmp_path / "x.sqlite").exists()


BLOCKER = """
import json
import sys

BLOCKED = {blocked!r}


class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not installed)", name=name)
        return None


sys.meta_path.insert(0, Block())

# An uninstalled package has no entry points either: without this, SQLAlchemy would find
# duckdb_engine's dialect entry point and fail importing it, which a real core install never does.
from importlib import metadata

_entry_points = metadata.entry_points


def entry_points(**params):
    found = _entry_points()
    every = getattr(found, "_all", found)  # Python 3.11 groups them by name
    kept = metadata.EntryPoints(point for point in every if point.module.partition(".")[0] not in BLOCKED)
    return kept.select(**params) if params else kept


metadata.entry_points = entry_points
"""


@pytest.mark.slow
def test_core_install_runs_assign_simulate_report_and_serve_names_its_extra(tmp_path):
    """The core commands with every extra's modules (and statsmodels, pandas) unimportable: no
    torch, dash, psycopg, duckdb or pyarrow; polars, numpy and scipy are the core's."""
    import os
    import subprocess
    from pathlib import Path

    blocked = set().union(*EXTRA_MODULES.values()) | {"pandas", "statsmodels"}
    (tmp_path / "sitecustomize.py").write_text(BLOCKER.format(blocked=sorted(blocked)))
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)])}

    def abkit(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "abkit.cli.main", *args]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    assert abkit("simulate", "--db", "e.sqlite", "--scale", "3000", "-q").returncode == 0
    assigned = abkit("assign", "--experiments-file", str(root / "experiments.toml"), "-e", "standing", "a", "c")
    assert assigned.returncode == 0, assigned.stderr
    for fmt in ("json", "html"):
        report = abkit("report", "--db", "e.sqlite", "--format", fmt, "--out", f"report.{fmt}")
        assert report.returncode == 0, report.stderr
    from tests.report_schema import assert_valid_report

    assert_valid_report(json.loads((tmp_path / "report.json").read_text()))  # built in a subprocess
    (tmp_path / "cases.csv").write_text("case_id,handle_time_s,closed_at\nc1,300,2026-01-05T10:00:00\n")
    ingested = abkit("ingest", "--db", "e.sqlite", "cases.csv")
    assert ingested.returncode == 0, ingested.stderr
    assert "1 rows read: 1 accepted" in ingested.stdout
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "cases.csv").write_text("case_id\n")
    for database in ("duckdb:///e.duckdb", "exports"):
        duckdb = abkit("report", "--db", database)
        assert duckdb.returncode == 2, duckdb.stderr
        assert duckdb.stderr == "abkit report: needs the duckdb extra: pip install 'abkit[duckdb]'\n"
    (tmp_path / "model").mkdir()
    serve = abkit("serve", "--model", "model")
    assert serve.returncode == 2
    assert serve.stderr == "abkit serve: needs the serve extra: pip install 'abkit[serve]'\n"


def test_a_database_driver_of_an_extra_is_named_by_any_command(monkeypatch, tmp_path):
    _missing(monkeypatch, "psycopg")
    result = CliRunner().invoke(cli, ["report", "--db", "postgresql://abkit@127.0.0.1:1/abkit", "--format", "json"])
    assert result.exit_code == 2, result.output
    assert result.stderr == "abkit report: needs the postgres extra: pip install 'abkit[postgres]'\n"
