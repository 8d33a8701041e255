"""abkit.progress: bars on a terminal only, so logs and CI output are not flooded."""

from __future__ import annotations

import io
import sys

from abkit.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _draw(monkeypatch, stream: io.StringIO, *, enabled: bool = True) -> str:
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(enabled=enabled, total=3, desc="work") as bar:
        for _ in range(3):
            bar.update()
    return stream.getvalue()


def test_drawn_on_a_terminal(monkeypatch):
    assert "work" in _draw(monkeypatch, _Terminal())


def test_not_drawn_when_standard_error_is_not_a_terminal(monkeypatch):
    assert _draw(monkeypatch, io.StringIO()) == ""


def test_not_drawn_when_disabled(monkeypatch):
    assert _draw(monkeypatch, _Terminal(), enabled=False) == ""


def test_simulate_writes_no_bar_to_a_log(tmp_path, capfd):
    from abkit.events.store import EventStore
    from abkit.simulate.run import simulate_into
    from abkit.simulate.settings import settings_for_scale

    simulate_into(EventStore.open(str(tmp_path / "e.sqlite")), settings_for_scale(2_000), 1, progress=True)
    assert "simulate" not in capfd.readouterr().err
