"""``arrears eod`` as an operator runs it, on a short demo's book: JSON, the gap refusal,
backfills, and a run killed with SIGKILL at random moments then run again — it ends in exactly
the state of a clean run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from arrears.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output


def test_eod_over_the_demo_book(workspace_env: Path) -> None:
    code, out = run("demo", "--json", "--size", "150", "--days", "20")
    assert code == 0, out
    code, out = run("eod", "--as-of", "2026-07-01", "--json")
    assert code == 0, out
    body = json.loads(out)
    assert body["loans"] > 100 and body["mirror_changed"] == 0
    assert {b["bucket"] for b in body["buckets"]} >= {"M0"}
    # a gap is refused with the command that fills it, exit 2
    code, out = run("eod", "--as-of", "2026-07-04", "--json")
    assert code == 2 and "--from 2026-07-02 --to 2026-07-04" in out
    code, out = run("eod", "--from", "2026-07-02", "--to", "2026-07-04", "--json")
    assert code == 0, out
    assert [d["as_of"] for d in json.loads(out)["days"]] == [
        "2026-07-02", "2026-07-03", "2026-07-04"]
    # the step order is checked before anything runs
    code, out = run("eod", "--as-of", "2026-07-05", "--steps", "advance,buckets")
    assert code == 1 and "missing" in out


def _eod(home: Path, day: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ARREARS_HOME": str(home)}
    env.pop("ARREARS_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-c", "from arrears.cli.main import app; app()", "eod", "--as-of",
         day, "--json", "--allow-gap"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def test_a_run_killed_at_any_moment_ends_as_a_clean_run(workspace_env: Path) -> None:
    code, out = run("demo", "--json", "--size", "150", "--days", "20")
    assert code == 0, out
    loans = sorted({r.split(",")[0] for r in (
        workspace_env / "demo" / "simulation" / "loans.csv").read_text().splitlines()[1:]})
    rng = random.Random(7)
    for i in range(3):
        # a payment since the last run: the killed run is bringing the mirror up to date
        code, out = run("payment", "post", "--id", f"K{i}", "--loan", rng.choice(loans),
                        "--amount", "100.00", "--paid-at", "2026-07-09 10:00:00")
        assert code == 0, out
        p = _eod(workspace_env, "2026-07-10")
        time.sleep(rng.uniform(0.3, 2.5))  # start-up is ~1 s: kills land all over the run
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
        again = _eod(workspace_env, "2026-07-10")
        stdout, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
        # the same bytes as a run that reads the whole book from scratch
        code, out = run("eod", "--as-of", "2026-07-10", "--json", "--allow-gap",
                        "--rebuild-mirror")
        assert code == 0, out
        assert json.loads(stdout)["digest"] == json.loads(out)["digest"]
