"""The code is held to its own standards: ruff, mypy (strict), the import contract, and the
generated data-contract page in step with the field definitions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    r = _run(sys.executable, "-m", "ruff", "check", "src", "tests", "bench")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    r = _run(sys.executable, "-m", "mypy")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr


def test_pure_core_imports_no_store_service_or_shell() -> None:
    r = _run("lint-imports")
    assert r.returncode == 0, r.stdout + r.stderr


def test_data_contract_page_is_generated_from_the_fields() -> None:
    from arrears.contract.docs import render

    page = (ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8")
    assert page == render(), "run: python -m arrears.contract.docs > docs/data-contract.md"
