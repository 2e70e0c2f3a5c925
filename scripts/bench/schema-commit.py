#!/usr/bin/env python3
"""What SQLite alone needs for one durable append on agent-runtime's schema.

Runs, with Python's sqlite3 (WAL, synchronous=FULL, one commit per row, 3,000 rows each):
  raw          one-row INSERT into a table without indexes (bench_raw.py's commit-each limit)
  full         an append: the session UPDATE (counters, last_activity) and the message INSERT,
               on the tables and indexes of the SQLite migration
  nolast       the same without touching last_activity (its four indexes stay untouched)
  insert_only  the message INSERT alone

    python3 scripts/bench/schema-commit.py [--reps 2] [--rows 3000]

Prints commits per second for each; compare only figures of one run.
"""
import argparse
import pathlib
import sqlite3
import tempfile
import time

MIGRATION = (pathlib.Path(__file__).resolve().parents[2] / "crates/agent-runtime/migrations"
             / "sqlite/2026-11-21-000000_conversation_store/up.sql")


def run(mode: str, rows: int) -> float:
    folder = tempfile.mkdtemp()
    db = sqlite3.connect(folder + "/bench.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    if mode == "raw":
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s INTEGER, content TEXT)")
    else:
        db.executescript(MIGRATION.read_text())
        db.execute("INSERT INTO sessions (session_id, owner, created_at, last_activity) "
                   "VALUES ('s', 'o', '2026-01-01', '2026-01-01')")
    payload = "x" * 256
    started = time.perf_counter()
    for i in range(rows):
        db.execute("BEGIN IMMEDIATE")
        if mode == "raw":
            db.execute("INSERT INTO t (s, content) VALUES (?, ?)", (1, payload))
        else:
            ts = "2026-01-01 00:00:%06d" % i
            if mode == "full":
                db.execute("UPDATE sessions SET message_count = message_count + 1, "
                           "total_tokens = total_tokens + 255, user_messages = user_messages + 1, "
                           "last_activity = ?, last_message_at = ? WHERE id = 1", (ts, ts))
            elif mode == "nolast":
                db.execute("UPDATE sessions SET message_count = message_count + 1, "
                           "total_tokens = total_tokens + 255, user_messages = user_messages + 1, "
                           "last_message_at = ? WHERE id = 1", (ts,))
            db.execute("INSERT INTO messages (session_db_id, seq, role, content, token_count, "
                       "timestamp) VALUES (1, ?, 'user', ?, 255, ?)", (i + 1, payload, ts))
        db.execute("COMMIT")
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--rows", type=int, default=3000)
    args = parser.parse_args()
    for _ in range(args.reps):
        for mode in ("raw", "full", "nolast", "insert_only"):
            print(f"{mode:12} {run(mode, args.rows):8.0f} commits/s", flush=True)


if __name__ == "__main__":
    main()
