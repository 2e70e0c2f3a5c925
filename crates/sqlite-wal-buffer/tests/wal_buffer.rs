//! The shim through SQLite's public interface: real files, several connections, the switch.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// SQLite names the one column of a pragma the VFS answers after the answer itself.
#[derive(QueryableByName)]
struct On {
    #[diesel(sql_type = Text, column_name = "1")]
    value: String,
}

#[derive(QueryableByName)]
struct Off {
    #[diesel(sql_type = Text, column_name = "0")]
    value: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

fn open(path: &std::path::Path, setup: &str) -> SqliteConnection {
    sqlite_wal_buffer::register().expect("register the shim");
    let mut c = SqliteConnection::establish(path.to_str().unwrap()).expect("open");
    c.batch_execute(setup).expect("setup");
    c
}

fn switch(c: &mut SqliteConnection) -> String {
    let query = diesel::sql_query("PRAGMA codelab_wal_write_buffer");
    match query.clone().get_result::<On>(c) {
        Ok(on) => on.value,
        Err(_) => query.get_result::<Off>(c).expect("read the switch").value,
    }
}

fn count(c: &mut SqliteConnection) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM t")
        .get_result::<Count>(c)
        .unwrap()
        .n
}

fn bytes(c: &mut SqliteConnection) -> i64 {
    diesel::sql_query("SELECT coalesce(sum(length(v)), 0) AS n FROM t")
        .get_result::<Count>(c)
        .unwrap()
        .n
}

fn integrity(c: &mut SqliteConnection) -> String {
    diesel::sql_query("PRAGMA integrity_check")
        .get_result::<Check>(c)
        .unwrap()
        .integrity_check
}

/// The one table of every test: rows of a blob each.
const TABLE: &str = "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL);";

const WRITER: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                      PRAGMA codelab_wal_write_buffer = on;";

#[test]
fn the_switch_needs_full_sync_first_and_any_sync_change_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = open(&dir.path().join("a.db"), "PRAGMA journal_mode = WAL;");
    assert_eq!(switch(&mut c), "0", "off until turned on");
    let err = c
        .batch_execute("PRAGMA codelab_wal_write_buffer = on")
        .unwrap_err();
    assert!(err.to_string().contains("synchronous"), "{err}");
    c.batch_execute("PRAGMA synchronous = NORMAL").unwrap();
    assert!(
        c.batch_execute("PRAGMA codelab_wal_write_buffer = on")
            .is_err()
    );
    assert_eq!(switch(&mut c), "0");
    c.batch_execute("PRAGMA synchronous = FULL; PRAGMA codelab_wal_write_buffer = on")
        .unwrap();
    assert_eq!(switch(&mut c), "1");
    c.batch_execute("PRAGMA synchronous = NORMAL").unwrap();
    assert_eq!(switch(&mut c), "0", "a weaker sync turns it off");
    c.batch_execute("PRAGMA synchronous = extra; PRAGMA codelab_wal_write_buffer = 1")
        .unwrap();
    assert_eq!(switch(&mut c), "1");
    c.batch_execute("PRAGMA codelab_wal_write_buffer = off")
        .unwrap();
    assert_eq!(switch(&mut c), "0");
    let err = c
        .batch_execute("PRAGMA codelab_wal_write_buffer = maybe")
        .unwrap_err();
    assert!(err.to_string().contains("on or off"), "{err}");
}

#[test]
fn every_commit_is_visible_to_another_connection_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.db");
    let mut w = open(&path, WRITER);
    assert_eq!(switch(&mut w), "1");
    w.batch_execute(&format!("{TABLE} CREATE INDEX t_v ON t (v);"))
        .unwrap();
    let mut r = open(&path, "PRAGMA busy_timeout = 5000;");
    for i in 1..=600_i64 {
        // Rows of 1–3 KiB through a table and an index: several frames per commit.
        let len = 1024 + (i % 3) * 1024;
        w.batch_execute(&format!("INSERT INTO t (v) VALUES (randomblob({len}))"))
            .unwrap();
        assert_eq!(count(&mut r), i, "commit {i} seen by the other connection");
    }
    assert_eq!(integrity(&mut r), "ok");
    w.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    assert_eq!(integrity(&mut r), "ok");
    assert_eq!(count(&mut r), 600);
}

#[test]
fn a_transaction_larger_than_the_cache_reads_back_its_own_spilled_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    // A cache of 8 pages: SQLite spills dirty pages to the WAL inside the transaction and reads
    // them back from there.
    let mut w = open(&path, &format!("{WRITER} PRAGMA cache_size = 8;"));
    w.batch_execute(TABLE).unwrap();
    let mut r = open(&path, "PRAGMA busy_timeout = 5000;");

    w.batch_execute("BEGIN IMMEDIATE").unwrap();
    for _ in 0..400 {
        w.batch_execute("INSERT INTO t (v) VALUES (zeroblob(3000))")
            .unwrap();
    }
    assert_eq!(
        bytes(&mut w),
        400 * 3000,
        "the writer reads its spilled rows"
    );
    assert_eq!(count(&mut r), 0, "nothing visible before the commit");
    w.batch_execute("COMMIT").unwrap();
    assert_eq!(bytes(&mut r), 400 * 3000);

    // A large transaction rolled back leaves nothing, and the next one commits cleanly over the
    // frames it had written.
    w.batch_execute("BEGIN IMMEDIATE").unwrap();
    for _ in 0..300 {
        w.batch_execute("INSERT INTO t (v) VALUES (randomblob(3000))")
            .unwrap();
    }
    w.batch_execute("ROLLBACK").unwrap();
    assert_eq!(count(&mut r), 400);
    w.batch_execute("INSERT INTO t (v) VALUES (zeroblob(10))")
        .unwrap();
    assert_eq!(count(&mut r), 401);
    assert_eq!(integrity(&mut r), "ok");

    // Closing and reopening (recovery reads the WAL from the file) keeps every commit.
    drop(w);
    drop(r);
    let mut again = open(&path, "PRAGMA journal_mode = WAL;");
    assert_eq!(count(&mut again), 401);
    assert_eq!(bytes(&mut again), 400 * 3000 + 10);
    assert_eq!(integrity(&mut again), "ok");
}

#[test]
fn two_writers_take_turns_on_one_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let setup = format!("{WRITER} PRAGMA busy_timeout = 10000;");
    let mut first = open(&path, &setup);
    first.batch_execute(TABLE).unwrap();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let path = path.clone();
            let setup = setup.clone();
            std::thread::spawn(move || {
                let mut c = open(&path, &setup);
                for i in 0..300 {
                    c.batch_execute(&format!(
                        "BEGIN IMMEDIATE; INSERT INTO t (v) VALUES (randomblob({})); COMMIT;",
                        500 + i * 7
                    ))
                    .unwrap();
                    if i % 100 == 99 {
                        c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)").unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(count(&mut first), 600);
    assert_eq!(integrity(&mut first), "ok");
}

#[test]
fn frames_of_a_rolled_back_transaction_never_land_on_another_writers_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.db");
    let setup = format!("{WRITER} PRAGMA busy_timeout = 5000; PRAGMA cache_size = 8;");
    let mut b = open(&path, &setup);
    b.batch_execute(TABLE).unwrap();
    for round in 1..=20 {
        // A spills frames (fewer than the flush threshold) and rolls back: they may still sit
        // in its buffer.
        let mut a = open(&path, &setup);
        if round % 2 == 1 {
            // An empty WAL: the rollback reloads its pages from the database file, so nothing
            // reads the WAL (and writes the buffer out) before A lets go of the write lock.
            b.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        }
        a.batch_execute("BEGIN IMMEDIATE").unwrap();
        for _ in 0..30 {
            a.batch_execute("INSERT INTO t (v) VALUES (randomblob(3000))")
                .unwrap();
        }
        a.batch_execute("ROLLBACK").unwrap();
        // B commits over the same part of the WAL, then A goes away (or reads again): nothing
        // of its rolled-back frames may overwrite B's.
        for _ in 0..10 {
            b.batch_execute("INSERT INTO t (v) VALUES (zeroblob(3000))")
                .unwrap();
        }
        if round % 2 == 0 {
            assert_eq!(count(&mut a), round * 10);
        }
        drop(a);
        assert_eq!(bytes(&mut b), round * 10 * 3000);
        assert_eq!(integrity(&mut b), "ok", "round {round}");
    }
}

#[test]
fn a_reader_running_alongside_the_writer_never_sees_a_frame_before_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.db");
    // The reader's first open may hold the WAL index lock for a moment (recovery): the writer
    // waits for it as any connection of the service does.
    let mut w = open(&path, &format!("{WRITER} PRAGMA busy_timeout = 5000;"));
    w.batch_execute(TABLE).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, done) = (path.clone(), done.clone());
        std::thread::spawn(move || {
            let mut r = open(&path, "PRAGMA busy_timeout = 5000;");
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                // Every row is 2,000 bytes: a page read from an unwritten frame breaks this
                // (or the read fails as a malformed database).
                let n = count(&mut r);
                assert_eq!(bytes(&mut r) % 2000, 0, "after {n} rows");
                reads += 1;
            }
            reads
        })
    };
    for _ in 0..1500 {
        w.batch_execute("INSERT INTO t (v) VALUES (zeroblob(2000))")
            .unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(count(&mut w), 1500);
    assert_eq!(integrity(&mut w), "ok");
}
