#!/usr/bin/env python3
"""What it costs to change the messages table's role CHECK on an existing SQLite database.

The schema's `CHECK (role IN ('user', 'assistant', 'system', 'tool'))` makes SQLite build a
temporary b-tree of the four constants on every INSERT (`OpenEphemeral` in `EXPLAIN`); the same
rule written as four equalities does not. An upgrade can change it in two ways, both measured
here on a database of the current schema (the first agent-runtime migration's up.sql) holding
`--messages` messages of 256 bytes in 100 sessions, WAL, synchronous=FULL:

- rebuild: a new table with the new CHECK, `INSERT … SELECT`, drop, rename, the table's indexes
  again (read from `sqlite_schema`), in one transaction (SQLite's documented 12-step procedure, lang_altertable.html);
- schema edit: `PRAGMA writable_schema` and an UPDATE of the table's text in `sqlite_schema`,
  which the same page allows for a constraint every stored row already satisfies; the schema
  cookie is bumped so that other connections reparse.

Prints the time each takes, the size of the WAL and the database afterwards, and checks each
result: `integrity_check`, `foreign_key_check`, the row count, the same index definitions,
no `OpenEphemeral` any more, an unknown role still refused. Uses the machine's Python
`sqlite3` module (the system libsqlite3, not the one bundled into agent-runtime).

    python3 scripts/bench/role-check-upgrade.py [--messages 1000000] [--dir /tmp]
"""
import argparse
import os
import shutil
import sqlite3
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRST = os.path.join(
    ROOT, "crates/agent-runtime/migrations/sqlite/2026-11-21-000000_conversation_store/up.sql"
)
IN_LIST = "CHECK (role IN ('user', 'assistant', 'system', 'tool'))"
EQUALITIES = "CHECK (role = 'user' OR role = 'assistant' OR role = 'system' OR role = 'tool')"


def connect(path):
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode = WAL")
    c.execute("PRAGMA synchronous = FULL")
    c.execute("PRAGMA foreign_keys = ON")
    return c


def seed(path, n):
    c = connect(path)
    c.executescript(open(FIRST).read())
    c.execute("BEGIN")
    for s in range(100):
        c.execute(
            "INSERT INTO sessions (session_id, owner, title, created_at, last_activity) "
            "VALUES (?, 'u', '', '2026-12-03 00:00:00', '2026-12-03 00:00:00')",
            (f"s{s}",),
        )
    roles = ["user", "assistant", "system", "tool"]
    body = "x" * 256
    c.executemany(
        "INSERT INTO messages (session_db_id, seq, role, content, token_count, timestamp) "
        "VALUES (?, ?, ?, ?, 255, '2026-12-03 00:00:00.000000')",
        ((i % 100 + 1, i // 100 + 1, roles[i % 4], body) for i in range(n)),
    )
    c.execute("COMMIT")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


def rebuild(c):
    (sql,) = c.execute("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'messages'").fetchone()
    assert IN_LIST in sql, "the messages table does not carry the expected CHECK"
    # The indexes as the migrations made them; DROP TABLE takes them with it.
    indexes = index_definitions(c)
    c.execute("BEGIN IMMEDIATE")
    c.execute(sql.replace(IN_LIST, EQUALITIES).replace("CREATE TABLE messages", "CREATE TABLE messages_new", 1))
    c.execute("INSERT INTO messages_new SELECT * FROM messages")
    c.execute("DROP TABLE messages")
    c.execute("ALTER TABLE messages_new RENAME TO messages")
    for index in indexes:
        c.execute(index)
    c.execute("COMMIT")


def schema_edit(c):
    c.execute("BEGIN IMMEDIATE")
    (version,) = c.execute("PRAGMA schema_version").fetchone()
    c.execute("PRAGMA writable_schema = ON")
    changed = c.execute(
        "UPDATE sqlite_schema SET sql = replace(sql, ?, ?) "
        "WHERE type = 'table' AND name = 'messages' AND instr(sql, ?) > 0",
        (IN_LIST, EQUALITIES, IN_LIST),
    ).rowcount
    assert changed == 1, "the messages table does not carry the expected CHECK"
    c.execute(f"PRAGMA schema_version = {version + 1}")
    c.execute("PRAGMA writable_schema = OFF")
    c.execute("COMMIT")


def index_definitions(c):
    return sorted(
        row[0]
        for row in c.execute(
            "SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'messages' AND sql IS NOT NULL"
        )
    )


def check(path, n, indexes):
    c = connect(path)
    assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert index_definitions(c) == indexes, "the messages indexes differ from before"
    assert c.execute("PRAGMA foreign_key_check").fetchall() == []
    assert c.execute("SELECT count(*) FROM messages").fetchone() == (n,)
    plan = c.execute(
        "EXPLAIN INSERT INTO messages (session_db_id, seq, role, timestamp) VALUES (1, ?, 'user', 'x')",
        (n + 1,),
    ).fetchall()
    assert not [op for op in plan if op[1] == "OpenEphemeral"], "the INSERT still builds a b-tree"
    try:
        c.execute(
            "INSERT INTO messages (session_db_id, seq, role, timestamp) VALUES (1, ?, 'bogus', 'x')",
            (n + 2,),
        )
        raise AssertionError("an unknown role was accepted")
    except sqlite3.IntegrityError:
        pass
    c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="role-check-", dir=args.dir)
    try:
        seeded = os.path.join(work, "seeded.db")
        seed(seeded, args.messages)
        before = os.path.getsize(seeded)
        c = connect(seeded)
        indexes = index_definitions(c)
        c.close()
        print(f"sqlite {sqlite3.sqlite_version}; {args.messages} messages, database {before / 1e6:.0f} MB")
        for name, change in (("rebuild", rebuild), ("schema edit", schema_edit)):
            path = os.path.join(work, name.replace(" ", "-") + ".db")
            shutil.copyfile(seeded, path)
            c = connect(path)
            start = time.monotonic()
            change(c)
            took = time.monotonic() - start
            wal = os.path.getsize(path + "-wal")
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            c.close()
            check(path, args.messages, indexes)
            print(
                f"{name}: {took:.3f} s, WAL after the commit {wal / 1e6:.0f} MB, "
                f"database {os.path.getsize(path) / 1e6:.0f} MB; checks passed"
            )
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
