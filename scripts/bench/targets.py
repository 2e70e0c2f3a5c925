#!/usr/bin/env python3
"""The append targets of BENCHMARKS.md as ratios, each measured side by side in many rounds.

Commit-bound rates on these machines drift by up to 2x between runs a minute apart, so a ratio
taken from one run of each side says little. Each round here measures, back to back, every
rate a target compares (a few seconds each), and each target's ratio is taken within the round;
the report gives every round's ratio and their median, low and high.

Per round, on SQLite (WAL, synchronous=FULL for the raw limit and codelab; the original runs
WAL with synchronous=NORMAL, as its W1a always did) and on PostgreSQL:
  raw    the original benchmark's bare driver loop, one INSERT + COMMIT per row
         (`bench_raw.py`'s insert_commit_each, its own schema and statements)
  orig   the original implementation's W1a: one `Database.append_message` per durable call,
         round-robin over 50 sessions (`bench_orm.py`'s write phase)
  c1/c8  `codelab-bench append --token-count 255` with 1 and 8 clients against agent-runtime,
         with the CPU each run took (agent-runtime's threads from /proc, the load generator's
         from its resource usage): whether the cores or one serial thread bound the rate

Targets (issue text): c8 >= 10x orig on each backend; on SQLite c8 >= 2x raw; c1 >= 50 % of raw.

Run through scripts/bench/targets.sh, which builds the binaries, prepares the original's
virtualenv and chooses the ports; this file needs:
  --bin DIR        directory of the release `agent-runtime`, `codelab` and `codelab-bench` binaries
  --original DIR   ../shared/bench/original-python (bench_raw.py, bench_orm.py, agent_db.py)
  --port N         agent-runtime's port on SQLite; N + 1 on PostgreSQL
  --pg-admin URL   PostgreSQL admin URL (creates and drops bench and bench_codelab)
  --rounds R       rounds (default 8); --seconds S per measurement (default 3)
  --out DIR        where targets.json and targets.txt go
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

SQLITE_TARGETS = [  # (name, numerator, denominator, threshold)
    ("SQLite 8 clients / original W1a", "sqlite_c8", "sqlite_orig", 10.0),
    ("SQLite 8 clients / raw commit-each", "sqlite_c8", "sqlite_raw", 2.0),
    ("SQLite 1 client / raw commit-each", "sqlite_c1", "sqlite_raw", 0.5),
]
PG_TARGETS = [
    ("PostgreSQL 8 clients / original W1a", "pg_c8", "pg_orig", 10.0),
    ("PostgreSQL 1 client / raw commit-each", "pg_c1", "pg_raw", 0.5),
]


def psql(url, *sql):
    for s in sql:
        subprocess.run(["psql", url, "-qAtc", s], check=True, capture_output=True)


def psql_value(url, sql):
    return subprocess.run(["psql", url, "-qAtc", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


class Server:
    """One agent-runtime (auth off) on `port` over `db_url`, until `stop`."""

    def __init__(self, bin_dir, port, db_url, log_path):
        self.addr = f"http://127.0.0.1:{port}"
        self.codelab = os.path.join(bin_dir, "codelab")
        self.codelab_bench = os.path.join(bin_dir, "codelab-bench")
        env = dict(os.environ, AGENT_RUNTIME__DB_URL=db_url, AGENT_RUNTIME__AUTH__DISABLED="true",
                   AGENT_RUNTIME__GRPC_ADDR=f"127.0.0.1:{port}", RUST_LOG="warn")
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([os.path.join(bin_dir, "agent-runtime")], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while subprocess.run([self.codelab, "sessions", "list", "--addr", self.addr],
                             capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"agent-runtime on {db_url} did not start: see {log_path}")
            time.sleep(0.02)

    def append(self, clients, seconds):
        """Appends/s of `codelab-bench append` with `clients` clients over `seconds`, and the
        CPU it took (see `cpu_of`)."""
        before, t0 = thread_cpu(self.proc.pid), time.monotonic()
        with tempfile.TemporaryFile("w+") as err:
            bench = subprocess.Popen(
                [self.codelab_bench, "append", "--addr", self.addr, "--clients", str(clients),
                 "--duration", str(seconds), "--warmup", "1", "--token-count", "255", "--json"],
                stdout=subprocess.PIPE, stderr=err, text=True)
            out = bench.stdout.read()
            # Reaped here rather than by Popen, for the load generator's own resource usage.
            _, status, usage = os.wait4(bench.pid, 0)
            wall, after = time.monotonic() - t0, thread_cpu(self.proc.pid)
            bench.returncode = os.waitstatus_to_exitcode(status)
            bench.stdout.close()
            if bench.returncode:
                err.seek(0)
                raise SystemExit(f"codelab-bench append failed: {err.read()}")
        load = usage.ru_utime + usage.ru_stime
        result = json.loads(out)["results"][0]
        if result["error_count"]:
            raise SystemExit(f"codelab-bench append reported {result['error_count']} errors")
        return result["ops_per_sec"], cpu_of(before, after, load, wall)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


def thread_cpu(pid):
    """CPU seconds (user + system) of each thread of process `pid`, by thread id (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        cpu[tid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return cpu


def cpu_of(before, after, load, wall):
    """The CPU of one `codelab-bench append` run, in % of one core over its whole run (warm-up
    and session set-up included): agent-runtime in all, its busiest thread (on SQLite the
    append writer) and the load generator."""
    spent = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    return {"server_pct": 100 * sum(spent.values()) / wall,
            "busiest_thread_pct": 100 * max(spent.values(), default=0.0) / wall,
            "load_pct": 100 * load / wall}


def timed(seconds, step):
    """Calls `step()` (one durable operation) until `seconds` have passed; operations/s."""
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        el = time.perf_counter() - t0
        if el >= seconds:
            return n / el


def raw_sqlite(bench_raw, rows, seconds):
    con, _ = bench_raw.fresh_sqlite(("WAL", "FULL"))
    q = f"INSERT INTO messages ({bench_raw.COLS}) VALUES (?,?,?,?,?)"
    it = iter(rows)

    def step():
        r = next(it)
        con.execute("BEGIN")
        con.execute(q, (r[0], r[1], r[2], bench_raw.ts_str(), r[4]))
        con.execute("COMMIT")
    rate = timed(seconds, step)
    con.close()
    return rate


def raw_pg(bench_raw, rows, seconds):
    con = bench_raw.fresh_pg()
    cur = con.cursor()
    q = f"INSERT INTO messages ({bench_raw.COLS}) VALUES (%s,%s,%s,%s,%s)"
    it = iter(rows)

    def step():
        r = next(it)
        cur.execute(q, (r[0], r[1], r[2], datetime.now(timezone.utc), r[4]))
        con.commit()
    rate = timed(seconds, step)
    con.close()
    return rate


def original_w1a(bench_orm, backend, pool, rng, seconds, rnd):
    """W1a as `bench_orm.py` runs it (one append_message per message, 50 sessions in turn)."""
    db, _ = bench_orm.fresh_db(backend)
    sids = [f"w1-r{rnd}-s{j:03d}" for j in range(50)]
    i = 0

    def step():
        nonlocal i
        msg = {"role": "user" if i % 2 == 0 else "assistant",
               "content": pool[rng.randrange(len(pool))], "token_count": rng.randint(10, 500)}
        db.append_message(sids[i % len(sids)], msg, datetime.now(timezone.utc))
        i += 1
    rate = timed(seconds, step)
    db.engine.dispose()
    return rate


def rounded(value):
    """`value` with every float in it rounded to a whole number, for the per-round line."""
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return round(value) if isinstance(value, float) else value


def cpu_lines(rounds):
    """One line per backend measured: the median CPU of its 8-client runs (see `cpu_of`)."""
    lines = []
    for name, key in (("SQLite", "sqlite_c8_cpu"), ("PostgreSQL", "pg_c8_cpu")):
        if not rounds or key not in rounds[0]:
            continue
        med = {k: statistics.median(r[key][k] for r in rounds) for k in rounds[0][key]}
        lines.append(f"{name} 8 clients, CPU in % of one core (median of the rounds; two cores "
                     f"in all): agent-runtime {med['server_pct']:.0f}, its busiest thread "
                     f"{med['busiest_thread_pct']:.0f}, load generator {med['load_pct']:.0f}")
    return lines


def summarize(targets, rounds):
    lines, report = [], []
    for name, num, den, threshold in targets:
        ratios = [r[num] / r[den] for r in rounds]
        med = statistics.median(ratios)
        met = sum(x >= threshold for x in ratios)
        fmt = (lambda x: f"{x:.1%}") if threshold < 1 else (lambda x: f"{x:.2f}x")
        lines.append(f"{name}: median {fmt(med)} [{fmt(min(ratios))}-{fmt(max(ratios))}], "
                     f"target {fmt(threshold)}: {'met' if med >= threshold else 'NOT met'} "
                     f"by the median; met in {met} of {len(ratios)} rounds")
        report.append({"target": name, "threshold": threshold, "ratios": ratios,
                       "median": med, "rounds_met": met})
    return lines, report


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--original", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pg-admin", default="postgres://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--backends", default="sqlite,pg")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    backends = a.backends.split(",")
    base = a.pg_admin.rsplit("/", 1)[0]
    # The original's modules read these at import: its database `bench` on --pg-admin's server.
    os.environ.setdefault("BENCH_PG_URL", "postgresql+psycopg://" + base.split("://", 1)[1] + "/bench")
    os.environ.setdefault("BENCH_PG_DSN", base + "/bench")
    sys.path.insert(0, a.original)
    import bench_orm  # noqa: E402  (the original's modules, from --original)
    import bench_raw  # noqa: E402

    rng = random.Random(7)
    pool = bench_orm.make_content_pool(rng)
    rows = bench_raw.rows_for(300_000, rng, pool)
    work = tempfile.mkdtemp(prefix="bench-targets-")
    servers = {}
    vacuum = None
    if "sqlite" in backends:
        servers["sqlite"] = Server(a.bin, a.port, f"sqlite:///{work}/agent_runtime.db",
                                   os.path.join(a.out, "sqlite.server.log"))
    if "pg" in backends:
        psql(a.pg_admin, "DROP DATABASE IF EXISTS bench WITH (FORCE)", "CREATE DATABASE bench",
             "DROP DATABASE IF EXISTS bench_codelab WITH (FORCE)", "CREATE DATABASE bench_codelab")
        servers["pg"] = Server(a.bin, a.port + 1, f"{base}/bench_codelab",
                               os.path.join(a.out, "postgres.server.log"))
        # As scripts/bench/run.sh: where autovacuum is off, a VACUUM stands in for it before each run.
        if psql_value(a.pg_admin, "SHOW autovacuum") == "off":
            vacuum = f"{base}/bench_codelab"
    rounds = []
    try:
        for rnd in range(a.rounds):
            r = {"round": rnd + 1, "started": datetime.now(timezone.utc).isoformat()}
            if "sqlite" in servers:
                r["sqlite_raw"] = raw_sqlite(bench_raw, rows, a.seconds)
                r["sqlite_orig"] = original_w1a(bench_orm, "sqlite-wal", pool, rng, a.seconds, rnd)
                for c in (1, 8):
                    r[f"sqlite_c{c}"], r[f"sqlite_c{c}_cpu"] = servers["sqlite"].append(c, a.seconds)
            if "pg" in servers:
                r["pg_raw"] = raw_pg(bench_raw, rows, a.seconds)
                r["pg_orig"] = original_w1a(bench_orm, "pg", pool, rng, a.seconds, rnd)
                for c in (1, 8):
                    if vacuum:
                        psql(vacuum, "VACUUM (ANALYZE)")
                    r[f"pg_c{c}"], r[f"pg_c{c}_cpu"] = servers["pg"].append(c, a.seconds)
            print(json.dumps(rounded(r)), flush=True)
            rounds.append(r)
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
        if "pg" in servers:
            psql(a.pg_admin, "DROP DATABASE IF EXISTS bench WITH (FORCE)",
                 "DROP DATABASE IF EXISTS bench_codelab WITH (FORCE)")
    targets = (SQLITE_TARGETS if "sqlite" in servers else []) + (PG_TARGETS if "pg" in servers else [])
    lines, report = summarize(targets, rounds)
    lines += cpu_lines(rounds)
    header = (f"{len(rounds)} rounds of {a.seconds:g} s per measurement; "
              f"vacuum before each PostgreSQL codelab run: {'yes' if vacuum else 'no'}")
    with open(os.path.join(a.out, "targets.json"), "w") as f:
        json.dump({"rounds": rounds, "targets": report, "seconds": a.seconds}, f, indent=2)
    with open(os.path.join(a.out, "targets.txt"), "w") as f:
        f.write("\n".join([header] + lines) + "\n")
    print("\n".join([header] + lines))


if __name__ == "__main__":
    main()
