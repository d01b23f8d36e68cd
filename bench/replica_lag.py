"""How far behind the streaming replica reads: commits on the primary, then the time until a reader of the
replica sees them; and, with ``--basebackup``, how long pg_basebackup takes to copy the cluster.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/h_replica \\
    DATABASE_REPLICA_URL=postgresql+psycopg://postgres@127.0.0.1:5433/h_replica \\
        .venv/bin/python bench/replica_lag.py --writes 300 --bulk-rows 100000 [--basebackup] [--json out.json]

Each small write is one committed INSERT on the primary; the clock runs from just before COMMIT returns
(``perf_counter`` before ``commit()``) until a replica query finds the row (polled every millisecond), and
the primary's WAL position after the commit is compared with the replica's replay position
(``pg_last_wal_replay_lsn``) at that moment. The bulk write is one transaction of ``--bulk-rows`` rows (the
size of an import). ``pg_stat_replication``'s own write/flush/replay lag is sampled as well. The scratch
table ``bench_replica_lag`` lives in the database named (use your own) and is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import sqlalchemy as sa

TABLE = "bench_replica_lag"


def _url(raw: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(ms: list[float]) -> dict:
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2), "p95_ms": round(_pct(ms, 0.95), 2),
            "max_ms": round(max(ms), 2), "mean_ms": round(statistics.fmean(ms), 2)}


def _wait_visible(replica: sa.Connection, row_id: int, timeout: float) -> float | None:
    """Seconds until the replica shows the row, polling every millisecond (None after ``timeout``)."""
    query = sa.text(f"SELECT 1 FROM {TABLE} WHERE id = :id")
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if replica.execute(query, {"id": row_id}).first() is not None:
            replica.rollback()
            return time.perf_counter()
        replica.rollback()
        time.sleep(0.001)
    return None


def measure_writes(primary: sa.Engine, replica: sa.Engine, writes: int, pause: float) -> dict:
    visible_ms: list[float] = []
    lsn_behind: list[int] = []
    stat_replay_ms: list[float] = []
    with primary.connect() as p, replica.connect() as r:
        for i in range(writes):
            row_id = p.execute(sa.text(f"INSERT INTO {TABLE} (payload) VALUES (:v) RETURNING id"),
                               {"v": f"write {i}"}).scalar_one()
            started = time.perf_counter()
            p.commit()
            lsn = p.execute(sa.text("SELECT pg_current_wal_lsn()::text")).scalar_one()
            p.commit()
            seen = _wait_visible(r, row_id, timeout=60)
            if seen is None:
                raise SystemExit(f"write {i}: not visible on the replica after 60 s")
            visible_ms.append((seen - started) * 1000)
            lsn_behind.append(int(r.execute(sa.text("SELECT pg_wal_lsn_diff(CAST(:l AS pg_lsn), pg_last_wal_replay_lsn())"),
                                            {"l": lsn}).scalar_one()))
            r.rollback()
            if i % 10 == 0:
                lag = p.execute(sa.text(
                    "SELECT extract(epoch FROM replay_lag) * 1000 FROM pg_stat_replication "
                    "WHERE application_name <> 'pg_basebackup' ORDER BY replay_lag NULLS LAST LIMIT 1")).scalar()
                p.commit()
                if lag is not None:
                    stat_replay_ms.append(float(lag))
            if pause:
                time.sleep(pause)
    out = {"visible": _summary(visible_ms),
           "bytes_behind_when_seen": {"median": statistics.median(lsn_behind), "max": max(lsn_behind)}}
    if stat_replay_ms:
        out["pg_stat_replication_replay_lag"] = _summary(stat_replay_ms)
    return out


def measure_bulk(primary: sa.Engine, replica: sa.Engine, rows: int) -> dict:
    with primary.connect() as p, replica.connect() as r:
        before = p.execute(sa.text("SELECT pg_current_wal_lsn()::text")).scalar_one()
        p.commit()
        t0 = time.perf_counter()
        last = p.execute(sa.text(
            f"INSERT INTO {TABLE} (payload) SELECT repeat('x', 120) || g FROM generate_series(1, :n) g "
            f"RETURNING id"), {"n": rows}).scalars().all()[-1]
        t1 = time.perf_counter()
        p.commit()
        t2 = time.perf_counter()
        wal = p.execute(sa.text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(:b AS pg_lsn))"),
                        {"b": before}).scalar_one()
        p.commit()
        seen = _wait_visible(r, last, timeout=600)
    if seen is None:
        raise SystemExit("the bulk write was not visible on the replica after 600 s")
    return {"rows": rows, "wal_bytes": int(wal), "insert_s": round(t1 - t0, 3), "commit_s": round(t2 - t1, 3),
            "visible_after_commit_ms": round((seen - t1) * 1000, 1)}


def measure_basebackup(primary: sa.Engine) -> dict:
    """A fresh pg_basebackup of the whole cluster into a scratch directory (no slot; removed afterwards)."""
    url = primary.url
    with primary.connect() as p:
        size = p.execute(sa.text("SELECT sum(pg_database_size(oid)) FROM pg_database")).scalar_one()
    scratch = tempfile.mkdtemp(prefix="assetreg-basebackup-", dir="/var/tmp")
    target = os.path.join(scratch, "data")
    cmd = ["/usr/lib/postgresql/15/bin/pg_basebackup", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
           "-U", url.username or "postgres", "-D", target, "-X", "stream", "-c", "fast", "--no-password"]
    if os.geteuid() == 0:
        shutil.chown(scratch, "postgres")
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    try:
        started = time.perf_counter()
        subprocess.run(cmd, check=True)
        took = time.perf_counter() - started
        copied = int(subprocess.run(["du", "-sb", target], check=True, capture_output=True, text=True).stdout.split()[0])
    finally:
        subprocess.run(["rm", "-rf", scratch], check=False)
    return {"databases_bytes": int(size), "copied_bytes": copied, "seconds": round(took, 1),
            "mb_per_s": round(copied / 1e6 / took, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--primary", default=os.environ.get("DATABASE_URL", ""))
    ap.add_argument("--replica", default=os.environ.get("DATABASE_REPLICA_URL", ""))
    ap.add_argument("--writes", type=int, default=300, help="single-row commits to time")
    ap.add_argument("--pause", type=float, default=0.01, help="seconds between writes")
    ap.add_argument("--bulk-rows", type=int, default=100_000, help="rows of the one bulk transaction (0: none)")
    ap.add_argument("--basebackup", action="store_true", help="also time a pg_basebackup of the whole cluster")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args(argv)
    if not (args.primary.startswith("postgres") and args.replica.startswith("postgres")):
        ap.error("--primary/DATABASE_URL and --replica/DATABASE_REPLICA_URL must be PostgreSQL URLs")
    primary, replica = sa.create_engine(_url(args.primary)), sa.create_engine(_url(args.replica))
    with replica.connect() as r:
        if not r.execute(sa.text("SELECT pg_is_in_recovery()")).scalar():
            ap.error("the replica URL is not a standby")
    results: dict = {"load_before": os.getloadavg()}
    with primary.begin() as p:
        p.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, "
                          "at timestamptz NOT NULL DEFAULT clock_timestamp(), payload text NOT NULL)"))
    try:
        results["writes"] = measure_writes(primary, replica, args.writes, args.pause)
        if args.bulk_rows:
            results["bulk"] = measure_bulk(primary, replica, args.bulk_rows)
    finally:
        with primary.begin() as p:
            p.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
    if args.basebackup:
        results["basebackup"] = measure_basebackup(primary)
    results["load_after"] = os.getloadavg()
    w = results["writes"]["visible"]
    print(f"single-row commits: n={w['n']} visible on the replica after median {w['median_ms']} ms, "
          f"p95 {w['p95_ms']} ms, max {w['max_ms']} ms")
    if "pg_stat_replication_replay_lag" in results["writes"]:
        s = results["writes"]["pg_stat_replication_replay_lag"]
        print(f"pg_stat_replication replay_lag: median {s['median_ms']} ms, p95 {s['p95_ms']} ms")
    if "bulk" in results:
        b = results["bulk"]
        print(f"bulk: {b['rows']} rows, {b['wal_bytes'] / 1e6:.1f} MB of WAL, commit {b['commit_s']} s, "
              f"visible on the replica {b['visible_after_commit_ms']} ms after the insert returned")
    if "basebackup" in results:
        b = results["basebackup"]
        print(f"pg_basebackup: {b['copied_bytes'] / 1e9:.2f} GB in {b['seconds']} s ({b['mb_per_s']} MB/s)")
    print(f"load average before {results['load_before'][0]:.2f}, after {results['load_after'][0]:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
