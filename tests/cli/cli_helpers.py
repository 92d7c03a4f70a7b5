"""Running the real ``arrears`` command in tests: the Typer app in-process, output parsed back."""

from __future__ import annotations

import json
import re
from typing import Any

from typer.testing import CliRunner, Result

from arrears.cli.main import app

runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def ok_json(*args: str) -> Any:
    """The command's ``--json`` output, parsed; fails the test on a non-zero exit."""
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def flat(text: str) -> str:
    """Terminal output without box drawing and line wrapping, for message checks."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())
