//! Restore into PostgreSQL with `COPY … FROM STDIN`, the bulk-load path `pg_restore` uses.
//!
//! The whole load — the migrations the target lacks to reach the backup's schema version (under
//! the migration engine's advisory lock, taken for the transaction), `TRUNCATE` of every table, dropping the foreign keys and secondary indexes,
//! one `COPY` per table, rebuilding the indexes, adding the foreign keys back (each validated in
//! one pass), resetting the sequences — runs in ONE transaction on one raw
//! `tokio-postgres` connection (diesel-async does not expose the COPY sub-protocol): a failure
//! anywhere rolls all of it back and the target keeps its rows.
//!
//! Backup rows (JSON arrays) become COPY text rows: each value is written exactly as the SQL
//! path's `e->>i` would yield it — `null` → `\N`, a string → its contents, a number or boolean
//! → its JSON text, an array or object → its JSON text — then escaped as the text format
//! requires (backslash, tab, newline, carriage return; PostgreSQL manual, "COPY", "Text
//! Format"). Numbers are passed through as written, never re-parsed, so no precision is lost.
//! Identity columns take the backup's values: COPY FROM always writes the given values, like
//! `INSERT … OVERRIDING SYSTEM VALUE` (same manual page).

use super::LoadJob;
use super::checks::check_target_columns;
use crate::admin::backup::format::Manifest;
use crate::admin::backup::limits::open_table;
use crate::admin::schema::{self, Schema};
use crate::admin::{AdminError, Progress, Result};
use crate::direct::{ident, ident_list, literal};
use crate::migrate::{LEDGER_DDL, apply_sql};
use crate::{Backend, DbError, DbUrl};
use futures::SinkExt as _;
use serde_json::value::RawValue;
use std::path::Path;

/// Bytes of COPY data sent per message to the server.
const CHUNK_BYTES: usize = 1 << 20;

/// Migrates the target to the backup's schema version with `job.set` and replaces every row of its
/// tables with the backup's, in one transaction (see the module docs).
///
/// # Errors
/// [`AdminError::Refused`] when the target holds a migration newer than the backup's or unknown
/// to `set`, or lacks a table or column of the backup; [`crate::DbError::Migration`] when a
/// migration fails;
/// [`DbError::Unavailable`] when the server cannot be reached or the connection drops;
/// [`AdminError::BadBackup`] for a row that is not a JSON array of the manifest's width, or
/// that the server refuses (a value that does not fit its column); [`AdminError::Refused`] for
/// other server errors (permissions). The target is unchanged after any error.
pub(super) async fn load(url: &DbUrl, job: LoadJob<'_>) -> Result<()> {
    let LoadJob {
        backup,
        manifest,
        progress,
        ..
    } = job;
    let (client, connection) = crate::pg_tls::PgConnector::new(url)?
        .connect()
        .await
        .map_err(|e| DbError::Unavailable(format!("cannot connect to {url}: {e}")))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "restore connection ended with an error");
        }
    });
    let result = async {
        client
            .batch_execute("SET TIME ZONE 'UTC'; BEGIN; SET LOCAL maintenance_work_mem = '64MB'")
            .await
            .map_err(server_error)?;
        let loaded = async {
            migrate_in_transaction(&client, job).await?;
            let schema = introspect(&client).await?;
            check_target_columns(manifest, &schema)?;
            load_in_transaction(&client, backup, manifest, &schema, progress).await
        }
        .await;
        match loaded {
            Ok(()) => client.batch_execute("COMMIT").await.map_err(server_error),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                Err(e)
            }
        }
    }
    .await;
    drop(client);
    let _ = driver.await;
    result
}

/// Applies the migrations of `set` the target lacks to reach the backup's version, inside the
/// open transaction, holding the migration engine's advisory lock until it ends.
async fn migrate_in_transaction(client: &tokio_postgres::Client, job: LoadJob<'_>) -> Result<()> {
    client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&job.set.lock_key()])
        .await
        .map_err(server_error)?;
    let ledger = client
        .query_one(
            "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(server_error)?;
    let applied: Vec<String> = if ledger.get::<_, bool>(0) {
        client
            .query(
                "SELECT version::text FROM __diesel_schema_migrations ORDER BY 1",
                &[],
            )
            .await
            .map_err(server_error)?
            .iter()
            .map(|r| r.get(0))
            .collect()
    } else {
        Vec::new()
    };
    let pending = job.migrations_to_apply(Backend::Postgres, &applied)?;
    if !pending.is_empty() {
        client
            .batch_execute(LEDGER_DDL)
            .await
            .map_err(server_error)?;
    }
    for m in pending {
        client.batch_execute(&apply_sql(m)).await.map_err(|e| {
            AdminError::Db(DbError::Migration(format!(
                "migration {} failed: {}",
                m.dir,
                describe(&e)
            )))
        })?;
    }
    Ok(())
}

/// The tables and columns of the current schema as this transaction sees them (after its own
/// migrations), ledger excluded: what the load needs (names and types; no indexes or keys).
async fn introspect(client: &tokio_postgres::Client) -> Result<Schema> {
    let rows = client
        .query(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
             a.attnotnull FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
            &[],
        )
        .await
        .map_err(server_error)?;
    let mut out = Schema::default();
    for row in rows {
        let table: String = row.get(0);
        if schema::LEDGER_TABLES.contains(&table.as_str()) {
            continue;
        }
        let entry = out
            .tables
            .entry(table.clone())
            .or_insert_with(|| schema::Table {
                name: table,
                columns: Vec::new(),
                primary_key: Vec::new(),
                indexes: Default::default(),
                references: Vec::new(),
            });
        entry.columns.push(schema::Column {
            name: row.get(1),
            data_type: row.get(2),
            nullable: !row.get::<_, bool>(3),
        });
    }
    Ok(out)
}

async fn load_in_transaction(
    client: &tokio_postgres::Client,
    backup: &Path,
    manifest: &Manifest,
    schema: &Schema,
    progress: &dyn Progress,
) -> Result<()> {
    let order = schema.dependency_order();
    if !order.is_empty() {
        client
            .batch_execute(&format!("TRUNCATE {}", ident_list(&order)))
            .await
            .map_err(server_error)?;
    }
    // Foreign keys are dropped and added back after the load, as pg_restore adds them: one
    // validating pass per key instead of one lookup per loaded row. Same transaction, so a
    // failure brings them back.
    let names: Vec<String> = manifest.tables.iter().map(|t| t.name.clone()).collect();
    let keys = client
        .query(
            "SELECT c.conrelid::regclass::text, c.conname::text, pg_get_constraintdef(c.oid) \
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
             WHERE c.contype = 'f' AND t.relnamespace = current_schema()::regnamespace \
             AND t.relname = ANY($1)",
            &[&names],
        )
        .await
        .map_err(server_error)?;
    let mut foreign_keys = Vec::new();
    for row in keys {
        let (table, name, definition): (String, String, String) =
            (row.get(0), row.get(1), row.get(2));
        client
            .batch_execute(&format!(
                "ALTER TABLE {table} DROP CONSTRAINT {}",
                ident(&name)
            ))
            .await
            .map_err(server_error)?;
        foreign_keys.push((table, name, definition));
    }
    // Secondary indexes are dropped and rebuilt after the load, as pg_restore does.
    let mut rebuild = Vec::new();
    for t in &manifest.tables {
        let sql = secondary_indexes_sql(&t.name);
        for row in client.query(&sql, &[]).await.map_err(server_error)? {
            let name: String = row.get(0);
            let create: String = row.get(1);
            client
                .batch_execute(&format!("DROP INDEX {}", ident(&name)))
                .await
                .map_err(server_error)?;
            rebuild.push((name, create));
        }
    }
    let bad = |problem: String| AdminError::BadBackup {
        backup: backup.display().to_string(),
        problem,
    };
    for t in &manifest.tables {
        let statement = format!(
            "COPY {} ({}) FROM STDIN",
            ident(&t.name),
            ident_list(&t.columns)
        );
        let sink = client.copy_in(&statement).await.map_err(server_error)?;
        futures::pin_mut!(sink);
        let mut reader = open_table(backup, manifest.compression, t)?;
        progress.start(&format!("restore {}", t.name), t.rows);
        let mut rows = 0u64;
        let mut chunk_rows = 0u64;
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 64 * 1024);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_row(&mut line)
                .map_err(|e| bad(format!("{}: {e}", t.file)))?;
            if n > 0 {
                rows += 1;
                let text = std::str::from_utf8(&line)
                    .map_err(|_| bad(format!("{}: row {rows} is not UTF-8", t.file)))?
                    .trim_end();
                push_copy_row(&mut chunk, text, t.columns.len())
                    .map_err(|problem| bad(format!("{}: row {rows}: {problem}", t.file)))?;
                chunk_rows += 1;
            }
            if (n == 0 && !chunk.is_empty()) || chunk.len() >= CHUNK_BYTES {
                let data = bytes::Bytes::from(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(CHUNK_BYTES + 64 * 1024),
                ));
                sink.send(data)
                    .await
                    .map_err(|e| copy_error(&bad, &t.file, rows, e))?;
                progress.advance(chunk_rows);
                chunk_rows = 0;
            }
            if n == 0 {
                break;
            }
        }
        let copied = sink
            .finish()
            .await
            .map_err(|e| copy_error(&bad, &t.file, rows, e))?;
        progress.finish();
        if rows != t.rows || copied != t.rows {
            return Err(bad(format!(
                "{}: {rows} rows read ({copied} loaded), manifest says {}",
                t.file, t.rows
            )));
        }
        for sql in reset_sequences_sql(&schema.tables[&t.name]) {
            client.batch_execute(&sql).await.map_err(server_error)?;
        }
    }
    for (name, create) in rebuild {
        progress.start(&format!("index {name}"), 0);
        let built = client.batch_execute(&create).await;
        progress.finish();
        built.map_err(|e| bad(format!("rebuilding index {name}: {e}")))?;
    }
    for (table, name, definition) in foreign_keys {
        progress.start(&format!("foreign key {name}"), 0);
        let added = client
            .batch_execute(&format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} {definition}",
                ident(&name)
            ))
            .await;
        progress.finish();
        added.map_err(|e| bad(format!("foreign key {name}: {}", describe(&e))))?;
    }
    Ok(())
}

/// The query listing `table`'s indexes that back no constraint as `(name, create)` rows.
fn secondary_indexes_sql(table: &str) -> String {
    format!(
        "SELECT i.relname::text AS name, pg_get_indexdef(ix.indexrelid) AS \"create\" \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid \
         WHERE t.relname = {} AND t.relnamespace = current_schema()::regnamespace \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid)",
        literal(table)
    )
}

/// Statements setting every sequence owned by an integer column of `table` past the column's
/// maximum (so the next generated id follows the restored ones).
fn reset_sequences_sql(table: &schema::Table) -> Vec<String> {
    table
        .columns
        .iter()
        .filter(|c| c.data_type.contains("int"))
        .map(|c| {
            format!(
                "SELECT setval(s, COALESCE((SELECT max({col}) FROM {t}), 0) + 1, false) \
                 FROM pg_get_serial_sequence({tl}, {cl}) AS s WHERE s IS NOT NULL",
                col = ident(&c.name),
                t = ident(&table.name),
                tl = literal(&ident(&table.name)),
                cl = literal(&c.name),
            )
        })
        .collect()
}

/// Appends backup row `text` (a JSON array of `width` values) to `out` as one COPY text row.
///
/// # Errors
/// A description of what is wrong with the row (not a JSON array, wrong number of values).
pub(crate) fn push_copy_row(
    out: &mut Vec<u8>,
    text: &str,
    width: usize,
) -> std::result::Result<(), String> {
    let values: Vec<&RawValue> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON array ({e})"))?;
    if values.len() != width {
        return Err(format!(
            "{} values, the manifest names {width} columns",
            values.len()
        ));
    }
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        push_copy_value(out, value)?;
    }
    out.push(b'\n');
    Ok(())
}

/// Appends one JSON value as a COPY text field (see the module docs).
fn push_copy_value(out: &mut Vec<u8>, value: &RawValue) -> std::result::Result<(), String> {
    let raw = value.get();
    match raw.as_bytes().first() {
        Some(b'n') => out.extend_from_slice(b"\\N"),
        Some(b'"') => {
            let s: String =
                serde_json::from_str(raw).map_err(|e| format!("bad string value ({e})"))?;
            escape_into(out, &s);
        }
        // Numbers, booleans, arrays and objects: their JSON text, escaped.
        _ => escape_into(out, raw),
    }
    Ok(())
}

/// COPY text-format escaping of one field.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// A server or connection error outside the COPY data itself.
fn server_error(e: tokio_postgres::Error) -> AdminError {
    if e.is_closed() || e.as_db_error().is_none() {
        AdminError::Db(DbError::Unavailable(e.to_string()))
    } else {
        AdminError::Refused(format!("target database: {}", describe(&e)))
    }
}

/// An error while sending a table's rows: the server refusing a value is the backup's
/// problem; a lost connection is not.
fn copy_error(
    bad: &dyn Fn(String) -> AdminError,
    file: &str,
    rows: u64,
    e: tokio_postgres::Error,
) -> AdminError {
    if e.as_db_error().is_some() {
        bad(format!("{file}: rows up to {rows}: {}", describe(&e)))
    } else {
        server_error(e)
    }
}

/// The server's message with its detail (`tokio_postgres::Error`'s `Display` says only "db
/// error").
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests;
