"""abkit.cli.extras: a command whose extra is missing names it in one line and exits 2."""

from __future__ import annotations

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
        (["loadtest", "--url", "http://127.0.0.1:1"], ("httpx",), "abkit loadtest: needs the serve extra"),
        (["train", "demo-model", "--out", "m"], ("transformers",), "abkit train: needs the train extra"),
        (["dashboard", "--db", "x.sqlite"], ("dash",), "abkit dashboard: needs the dashboard extra"),
        (["demo", "--db", "x.sqlite"], ("dash",), "abkit demo: needs the dashboard extra"),
        (["simulate", "--serve-url", "http://127.0.0.1:1"], ("httpx",), "needs the serve extra"),
    ],
)
def test_commands_name_their_extra(monkeypatch, tmp_path, args, modules, line):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    # drop the already imported modules of abkit and its dependencies that would import the missing ones
    for name in list(sys.modules):
        if name.startswith(("abkit.serving", "abkit.loadtest", "abkit.simulate.live", "abkit.training", "dashboards")):
            monkeypatch.delitem(sys.modules, name)
    _missing(monkeypatch, *modules)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert line in result.stderr
    assert len(result.stderr.splitlines()) == 1
