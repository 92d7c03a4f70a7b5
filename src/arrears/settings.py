"""Where the workspace lives and which database it uses (read from the environment once)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path  # ARREARS_HOME, default ./arrears-data
    database_url: str  # ARREARS_DATABASE_URL, default sqlite:///<home>/arrears.db

    @property
    def rules_dir(self) -> Path:
        """Operator overlays of the shipped rule packs (e.g. new LPR fixings)."""
        return self.home / "rules"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def snapshots_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(env: dict[str, str] | None = None) -> Settings:
    e = os.environ if env is None else env
    home = Path(e.get("ARREARS_HOME", "arrears-data")).resolve()
    url = e.get("ARREARS_DATABASE_URL") or f"sqlite:///{home / 'arrears.db'}"
    return Settings(home=home, database_url=url)
