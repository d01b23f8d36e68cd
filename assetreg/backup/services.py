"""Backup and restore of the whole database. SQLite: the online backup API (``sqlite3.Connection.backup``),
safe while the app runs; a backup is written to a temporary name and renamed when complete, and a file
is restored only if it is an assetreg database at a known migration revision that passes
``PRAGMA integrity_check``. PostgreSQL: ``pg_dump`` and ``pg_restore`` are the tools; we say the command.
"""

from __future__ import annotations

import os
import secrets
import shlex
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy.engine import URL

from ..core.errors import RuleViolation
from ..extensions import db

FILE = "file"  # the field the messages name: the backup file


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    revision: str
    is_head: bool
    tables: int
    bytes: int


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


def _database_path() -> Path:
    name = db.engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise RuleViolation("当前数据库不是磁盘上的 SQLite 文件，无法备份或恢复", {FILE: ["仅支持文件数据库"]})
    return Path(name)


def _revisions() -> tuple[set[str], str | None]:
    """Every revision of our migrations, and the head."""
    cfg = Config()
    cfg.set_main_option("script_location", str(current_app.extensions["migrate"].directory))
    script = ScriptDirectory.from_config(cfg)
    return {s.revision for s in script.walk_revisions()}, script.get_current_head()


# --- SQLite -------------------------------------------------------------------------------------

def backup_sqlite(out: Path) -> BackupInfo:
    """Copy the live database to ``out`` page by page (a consistent snapshot, while the app runs). The copy
    goes to a temporary name beside ``out`` and is renamed into place only when complete and checked."""
    source_path = _database_path()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{secrets.token_hex(6)}.part"
    try:
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(tmp)
            try:
                source.backup(target)
                # the copy carries the live database's WAL mode: make it one self-contained file
                target.execute("PRAGMA journal_mode = DELETE")
            finally:
                target.close()
        finally:
            source.close()
        os.chmod(tmp, 0o600)  # the whole registry, personal data included
        info = check_sqlite_file(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupInfo(out, info.revision, info.is_head, info.tables, out.stat().st_size)


def check_sqlite_file(path: Path) -> BackupInfo:
    """An assetreg database at a known migration revision that passes ``PRAGMA integrity_check``;
    otherwise 422 naming the file."""
    path = Path(path)
    if not path.is_file():
        raise RuleViolation("备份文件不存在", {FILE: [f"找不到备份文件 {path}"]})
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        raise RuleViolation("备份文件不是有效的数据库文件", {FILE: [f"{path.name} 无法作为 SQLite 数据库打开"]}) from None
    try:
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError:
            raise RuleViolation("备份文件不是有效的数据库文件",
                                {FILE: [f"{path.name} 不是 SQLite 数据库或已损坏"]}) from None
        if problems != ["ok"]:
            raise RuleViolation("备份文件未通过完整性检查", {FILE: ["PRAGMA integrity_check：" + "；".join(problems[:5])]})
        if "alembic_version" not in tables:
            raise RuleViolation("备份文件不是本系统的数据库备份", {FILE: ["缺少迁移版本表 alembic_version"]})
        found = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
    finally:
        conn.close()
    known, head = _revisions()
    if len(found) != 1 or found[0] not in known:
        raise RuleViolation("备份文件不是本系统的数据库备份", {FILE: [f"未知的迁移版本 {'、'.join(found) or '（空）'}"]})
    return BackupInfo(path, found[0], found[0] == head, len(tables), path.stat().st_size)


def restore_sqlite(path: Path) -> BackupInfo:
    """Replace the live database with the checked backup through the backup API (the file is copied into
    the database, not moved over it, so the app's connections stay valid)."""
    info = check_sqlite_file(path)
    target_path = _database_path()
    db.session.remove()
    db.engine.dispose()  # no pooled connection keeps a read of the old content
    source = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(target_path, timeout=30)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    db.engine.dispose()
    return info


# --- PostgreSQL ---------------------------------------------------------------------------------

def _libpq_url(url: URL) -> str:
    """The configured URL as libpq takes it (no SQLAlchemy driver), password hidden."""
    return url.set(drivername="postgresql").render_as_string(hide_password=True)


def pg_dump_command(url: URL, out: str | Path) -> str:
    return (f"pg_dump --format=custom --no-owner --file={shlex.quote(str(out))} "
            f"--dbname={shlex.quote(_libpq_url(url))}")


def pg_restore_commands(url: URL, path: str | Path) -> list[str]:
    """pg_restore for a custom-format dump (``pg_dump --format=custom``), psql for a plain SQL one."""
    target = shlex.quote(_libpq_url(url))
    return [f"pg_restore --clean --if-exists --no-owner --single-transaction --dbname={target} "
            f"{shlex.quote(str(path))}",
            f"psql --single-transaction --set ON_ERROR_STOP=1 --dbname={target} --file={shlex.quote(str(path))}"]
