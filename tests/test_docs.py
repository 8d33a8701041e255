"""The README and docs/ are guides for users: no commit hashes, links that stay inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# What `grep -E '\b[0-9a-f]{7}\b'` finds: an abbreviated commit hash, or a number that looks like one.
HEX_WORD = re.compile(r"\b[0-9a-f]{7}\b")
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_no_word_that_looks_like_a_commit_hash(page):
    hits = [
        f"{page.name}:{n}: {line.strip()}"
        for n, line in enumerate(page.read_text().splitlines(), 1)
        if HEX_WORD.search(line)
    ]
    assert not hits, "write history in git, and large numbers as 1_000_000 or 1,000,000:\n" + "\n".join(hits)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_relative_links_point_inside_the_repository_at_files_that_exist(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            assert page.name != "README.md", f"README.md links outside the repository: {target}"
            continue
        path = (page.parent / target.partition("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert path.exists(), f"{page.name} links to a missing file: {target}"


def test_readme_stays_a_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
