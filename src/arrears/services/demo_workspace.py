"""What ``arrears demo`` may do to a workspace (演示工作区): run in an empty one, refuse one
that holds anything else, and — only when asked with ``--fresh`` — remove what an earlier
demo made there, and nothing more.

The demo marks its workspace with ``demo/demo.json`` before it writes anything. What the
demo makes: the workspace's SQLite database (with its ``-wal``/``-shm`` files), the mirror,
the snapshots, the ``demo/`` folder and any quarantine file of its own ingestion runs. A
database that also holds someone's own work — ingestion runs of files from elsewhere, manual
operations (the audit log), products — is never removed: the workspace is then refused, with
or without ``--fresh``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from arrears.settings import Settings
from arrears.store import schema
from arrears.store.db import get_engine, migrate

MANIFEST = "demo.json"
MADE_BY = "arrears demo"


class WorkspaceError(RuntimeError):
    """The workspace cannot host the demo as asked; the message says why and what to do."""


def demo_folder(settings: Settings) -> Path:
    return settings.home / "demo"


def mirror_folder(settings: Settings) -> Path:
    return settings.home / "mirror"  # where services.eod keeps end-of-day's mirror


def sqlite_file(settings: Settings) -> Path | None:
    """The database file when the database is SQLite on a file, else None."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()


@dataclass(slots=True)
class Workspace:
    """What is in a workspace, as far as the demo is concerned."""

    demo: dict[str, Any] | None = None  # an earlier demo's manifest
    foreign: list[str] = field(default_factory=list)  # what no demo made, in words

    @property
    def empty(self) -> bool:
        return self.demo is None and not self.foreign


def read_manifest(settings: Settings) -> dict[str, Any] | None:
    path = demo_folder(settings) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"{path} is unreadable ({exc}); not touching the workspace") \
            from None
    if not isinstance(data, dict) or data.get("made_by") != MADE_BY:
        raise WorkspaceError(f"{path} was not written by {MADE_BY}; not touching the workspace")
    return data


def write_manifest(settings: Settings, manifest: dict[str, Any]) -> None:
    folder = demo_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({"made_by": MADE_BY, **manifest}, indent=2, ensure_ascii=False,
                              default=str) + "\n", encoding="utf-8")
    tmp.replace(folder / MANIFEST)


def inspect(settings: Settings, db: Engine | None) -> Workspace:
    """The workspace's state. ``db`` is the workspace's engine, or None when its SQLite file
    does not exist yet (then the database holds nothing)."""
    ws = Workspace(demo=read_manifest(settings))
    if db is not None:
        ws.foreign.extend(_foreign_rows(db, settings, demo_made=ws.demo is not None))
    if ws.demo is None:
        ws.foreign.extend(f"{p.name}/ ({_count(p)} files)" for p in
                          (mirror_folder(settings), settings.snapshots_dir, demo_folder(settings))
                          if _count(p))
    return ws


def _count(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def _foreign_rows(db: Engine, settings: Settings, demo_made: bool) -> list[str]:
    """The database's rows no demo made, in words. Without a demo every row is someone's;
    after one, only ingestion runs of files outside ``demo/``, the audit log (manual
    operations) and products are."""
    found = []
    with db.connect() as conn:
        tables = ([schema.audit_log, schema.products] if demo_made
                  else [t for t in schema.metadata.sorted_tables])
        for t in tables:
            n = conn.execute(select(func.count()).select_from(t)).scalar_one()
            if n:
                found.append(f"{n} row(s) in {t.name}")
        if demo_made:
            inside = str(demo_folder(settings)) + "/"
            paths = conn.execute(select(schema.ingest_runs.c.path)).scalars().all()
            outside = [p for p in paths if not str(Path(p).resolve()).startswith(inside)]
            if outside:
                found.append(f"{len(outside)} ingestion run(s) of other files, e.g. "
                             f"{outside[0]}")
    return found


def made_by_demo(settings: Settings, db: Engine) -> list[Path]:
    """What ``remove_demo`` would remove, existing paths only."""
    paths = [demo_folder(settings), mirror_folder(settings), settings.snapshots_dir]
    with db.connect() as conn:
        paths += [Path(p) for p in conn.execute(
            select(schema.ingest_runs.c.quarantine_path).where(
                schema.ingest_runs.c.quarantine_path.is_not(None))).scalars()]
    file = sqlite_file(settings)
    if file is not None:
        paths += [file, *(file.with_name(file.name + s) for s in ("-wal", "-shm", "-journal"))]
    return [p for p in paths if p.exists()]


def remove_demo(settings: Settings, db: Engine, ws: Workspace) -> list[Path]:
    """Remove an earlier demo's files and database (``--fresh``); refuses unless ``ws`` is a
    demo's workspace and nothing else, and unless the database is the workspace's SQLite
    file the demo ran on. Returns what was removed."""
    if ws.demo is None or ws.foreign:
        raise WorkspaceError("only a workspace holding a demo and nothing else is removed")
    if sqlite_file(settings) is None or ws.demo.get("database") != database_label(settings):
        raise WorkspaceError(
            f"the demo ran on {ws.demo.get('database')}; the workspace now uses "
            f"{database_label(settings)}, which is not a SQLite file the demo may delete — "
            "empty or drop that database yourself, or set ARREARS_HOME to an empty folder")
    doomed = made_by_demo(settings, db)
    db.dispose()  # no connection may hold the file while it goes
    for p in doomed:
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
    return doomed


def database_label(settings: Settings) -> str:
    """The database URL without a password, as the manifest records it."""
    return make_url(settings.database_url).render_as_string(hide_password=True)


def prepare(settings: Settings, fresh: bool) -> tuple[Engine, list[Path]]:
    """The workspace's engine, its schema in place, for a demo to run in: the workspace must
    be empty, or hold an earlier demo and nothing else and ``fresh`` be asked — that demo is
    removed first (the paths removed are returned). Anything else raises ``WorkspaceError``
    before a thing is changed."""
    file = sqlite_file(settings)
    db = None if file is not None and not file.exists() else get_engine(settings)
    ws = inspect(settings, db)
    if ws.foreign:
        raise WorkspaceError(_foreign_message(settings, ws))
    removed: list[Path] = []
    if ws.demo is not None:
        if not fresh:
            raise WorkspaceError(_again_message(settings, ws.demo, db))
        removed = remove_demo(settings, db or get_engine(settings), ws)
    db = get_engine(settings)
    migrate(db)  # a removed database file is created again, empty
    return db, removed


def _foreign_message(settings: Settings, ws: Workspace) -> str:
    return (f"工作区 {settings.home} 中有不是演示生成的数据，演示既不使用也不删除它。\n"
            f"The workspace {settings.home} holds data the demo did not make: "
            f"{'; '.join(ws.foreign)}. Nothing was changed. Run the demo in an empty "
            "workspace, e.g. ARREARS_HOME=$(mktemp -d) arrears demo")


def _again_message(settings: Settings, demo: dict[str, Any], db: Engine | None) -> str:
    what = (f"seed {demo.get('seed')}, {demo.get('borrowers')} borrowers, "
            f"{demo.get('start')} – {demo.get('as_of')}, {demo.get('status')}")
    doomed = made_by_demo(settings, db) if db is not None else [demo_folder(settings)]
    names = ", ".join(str(p.relative_to(settings.home)) if p.is_relative_to(settings.home)
                      else str(p) for p in doomed)
    return (f"工作区 {settings.home} 里已经有一次演示（{what}）；未做任何改动。\n"
            f"This workspace already holds a demo ({what}); nothing was changed. "
            f"`arrears demo --fresh` removes it and starts over — it removes {names} and "
            "nothing else. Or run the demo elsewhere: ARREARS_HOME=$(mktemp -d) arrears demo")
