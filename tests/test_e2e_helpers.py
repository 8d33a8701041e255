"""tests/e2e_helpers.py: docs/walkthrough.md parses into the script the end-to-end test runs.

Fast checks (nothing is run): a page edit that breaks the slow test's substitutions fails here
in a second.
"""

from __future__ import annotations

import pytest

from tests.e2e_helpers import (
    SUMMARY_FILES,
    TRAINING_REPLACEMENTS,
    TRAINING_SECTION,
    WALKTHROUGH,
    small_run_replacements,
    substitute,
    walkthrough_blocks,
    walkthrough_script,
)

PAGE = """# Title

## 1. First

```sh
echo one
```

```text
not run
```

## 2. Second

```sh
echo two
echo three
```
"""


def test_blocks_are_the_sh_fences_with_their_section():
    blocks = walkthrough_blocks(PAGE)
    assert [(b.section, b.code) for b in blocks] == [
        ("1. First", "echo one\n"),
        ("2. Second", "echo two\necho three\n"),
    ]


def test_a_replacement_that_matches_nothing_fails_naming_it():
    assert substitute("--cases 600 --seed 1", {"--cases 600 ": "--cases 80 "}) == "--cases 80 --seed 1"
    with pytest.raises(AssertionError, match="no longer contains '--port 8000'"):
        substitute("abkit serve --port 9000", {"--port 8000": "--port 1"})


def test_the_walkthrough_page_gives_the_training_script_and_the_run_script():
    training = walkthrough_script(TRAINING_REPLACEMENTS, only=TRAINING_SECTION)
    assert training.startswith("set -euo pipefail\n")
    assert training.count("abkit train demo-model") == 2 and "--cases 1200 " in training and "--cases 2000 " in training
    run = walkthrough_script(small_run_replacements(1111, 2222, "db.sqlite"), skip=(TRAINING_SECTION,))
    assert "abkit train" not in run
    assert "export ABKIT_DB='db.sqlite'" in run
    assert "8000" not in run and "8050" not in run and "0.02" not in run
    assert run.count("abkit serve --model") == 3 and run.count("abkit simulate --serve-url http://127.0.0.1:1111") == 3
    for name in SUMMARY_FILES:  # the files the test reconciles with the store
        assert f"--summary {name}" in run
    assert run.rstrip().endswith('abkit dashboard --db "$ABKIT_DB" --port 2222')


def test_an_unknown_section_gives_no_script():
    with pytest.raises(AssertionError, match="no sh blocks"):
        walkthrough_script({}, only="9. Not on the page")
    assert WALKTHROUGH.is_file()
