#!/usr/bin/env bash
# Backup/restore benchmark of `codelab db` (BENCHMARKS.md, "Database backup and restore").
#
#   bash scripts/bench/db.sh [--messages N] [--content-bytes B] [--db EXISTING.db]
#
# Builds a SQLite agent_runtime database of N messages (default 2,000,000 of 400 bytes, about
# 1.3 GB) with the real migrations, then measures in one run:
#   - `cp` of the database file (the disk's sequential copy speed, page cache included),
#   - `codelab db backup` (zstd) and `codelab db restore` into a fresh SQLite file,
#   - `codelab db copy` of it into PostgreSQL database bench_db (created and dropped),
#   - `pg_dump -Fc` / `pg_restore` against `codelab db backup` / `restore` on that database,
# each with wall time and peak RSS (GNU time). Results go to bench-results/db-<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/../.."

messages=2000000; content=400; existing=
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) messages=$2; shift ;;
    --content-bytes) content=$2; shift ;;
    --db) existing=$(realpath "$2"); shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=${PG_ADMIN%/*}/bench_db
PG_DB2=${PG_ADMIN%/*}/bench_db_restored
out=$(pwd)/bench-results/db-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out/backups"
cargo build --release -q -p codelab
codelab=$(pwd)/target/release/codelab
export CODELAB_BACKUP_DIR=$out/backups
db=${existing:-$out/agent_runtime.db}

# measure NAME CMD...: wall seconds and peak RSS (MiB) into $out/results.tsv
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$out/time.$name" "$@" >"$out/log.$name" 2>&1
  read -r secs kib <"$out/time.$name"
  printf '%s\t%s\t%s\n' "$name" "$secs" "$((kib / 1024))" | tee -a "$out/results.tsv"
}

if [ -z "$existing" ]; then
echo "building $messages messages of $content bytes in $db" >&2
"$codelab" db migrate agent_runtime --url "sqlite:///$db" >/dev/null
python3 - "$db" "$messages" "$content" <<'EOF'
import sqlite3, sys, random, string
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per_session = 1000
c = sqlite3.connect(path)
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=OFF")
words = ["".join(random.choices(string.ascii_lowercase, k=random.randint(2, 9))) for _ in range(5000)]
def text():
    out, length = [], 0
    while length < size:
        w = random.choice(words); out.append(w); length += len(w) + 1
    return " ".join(out)[:size]
ts = "2026-11-22 10:00:00.000000"
sessions = (n + per_session - 1) // per_session
c.execute("BEGIN")
c.executemany("INSERT INTO sessions (id, session_id, owner, created_at, last_activity, message_count) VALUES (?,?,?,?,?,?)",
              ((i + 1, f"s-{i}", "bench", ts, ts, per_session) for i in range(sessions)))
pool = [text() for _ in range(2000)]
def rows():
    for m in range(n):
        s = m // per_session
        yield (s + 1, m % per_session + 1, "user" if m % 2 == 0 else "assistant", pool[m % len(pool)], 100, '{"k":1}', ts)
c.executemany("INSERT INTO messages (session_db_id, seq, role, content, token_count, metadata_json, timestamp) VALUES (?,?,?,?,?,?,?)", rows())
c.execute("COMMIT")
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
EOF
fi
ls -l "$db" | tee "$out/size.txt"
printf 'step\tseconds\tpeak_rss_mib\n' >"$out/results.tsv"

sync
measure cp_sqlite cp "$db" "$out/copy.db"
rm -f "$out/copy.db"
measure backup_sqlite "$codelab" db backup agent_runtime --url "sqlite:///$db" --name sqlite
id=$(ls "$out/backups" | grep -- '-sqlite$' | head -n1)
measure restore_sqlite "$codelab" db restore "$id" --to "sqlite:///$out/restored.db"
rm -f "$out/restored.db"*

psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS bench_db WITH (FORCE)" -c "CREATE DATABASE bench_db" \
  -c "DROP DATABASE IF EXISTS bench_db_restored WITH (FORCE)" -c "CREATE DATABASE bench_db_restored"
measure copy_sqlite_to_pg "$codelab" db copy agent_runtime --from "sqlite:///$db" --to "$PG_DB"
psql -q "$PG_DB" -c "VACUUM ANALYZE" >/dev/null
measure pg_dump_fc pg_dump -Fc -f "$out/bench.dump" "$PG_DB"
measure backup_pg "$codelab" db backup agent_runtime --url "$PG_DB" --name pg
measure pg_restore pg_restore -d "$PG_DB2" "$out/bench.dump"
psql -q "$PG_ADMIN" -c "DROP DATABASE bench_db_restored WITH (FORCE)" -c "CREATE DATABASE bench_db_restored"
pid=$(ls "$out/backups" | grep -- '-pg$' | head -n1)
measure restore_pg "$codelab" db restore "$pid" --to "$PG_DB2"
du -sh "$out/backups/$id" "$out/backups/$pid" "$out/bench.dump" | tee -a "$out/size.txt"
psql -q "$PG_ADMIN" -c "DROP DATABASE bench_db WITH (FORCE)" -c "DROP DATABASE bench_db_restored WITH (FORCE)"
echo "results in $out/results.tsv" >&2
