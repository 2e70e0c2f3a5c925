//! Reading a live schema (tables, columns, indexes, foreign keys) from the catalogue of either
//! backend, without knowing any service's tables.

use crate::direct::{Direct, ident, literal};
use crate::{Backend, DbError};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use std::collections::BTreeMap;

/// Tables that belong to the migration ledger, not to the service.
pub const LEDGER_TABLES: [&str; 2] = ["__diesel_schema_migrations", "__codelab_migrations"];

/// A column as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Declared type, lowercase (`bigint`, `character varying(128)`, `timestamp without time
    /// zone` on PostgreSQL; the declared text on SQLite).
    pub data_type: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
}

/// An index as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Index {
    /// Index name.
    pub name: String,
    /// Whether it enforces uniqueness.
    pub unique: bool,
    /// Normalised definition (PostgreSQL `pg_get_indexdef` without the schema; SQLite's
    /// `CREATE INDEX` text, whitespace collapsed; the column list for automatic indexes).
    pub definition: String,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Table {
    /// Table name.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// Primary-key columns in key order.
    pub primary_key: Vec<String>,
    /// Indexes by name.
    pub indexes: BTreeMap<String, Index>,
    /// Tables this one references with foreign keys.
    pub references: Vec<String>,
}

/// A database's tables (ledger and catalogue tables excluded), by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Schema {
    /// Tables by name.
    pub tables: BTreeMap<String, Table>,
}

impl Schema {
    /// Table names ordered so that every table comes after the tables it references (the order
    /// to insert rows in; reverse it to delete). Cycles are broken by name order.
    pub fn dependency_order(&self) -> Vec<String> {
        let mut done: Vec<String> = Vec::new();
        let mut left: Vec<&Table> = self.tables.values().collect();
        while !left.is_empty() {
            let ready = left.iter().position(|t| {
                t.references
                    .iter()
                    .all(|r| r == &t.name || done.contains(r) || !self.tables.contains_key(r))
            });
            let next = left.remove(ready.unwrap_or(0));
            done.push(next.name.clone());
        }
        done
    }
}

/// A one-column text row, selected `AS name`.
#[derive(QueryableByName)]
pub(crate) struct Name {
    #[diesel(sql_type = Text)]
    pub(crate) name: String,
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    not_null: bool,
    #[diesel(sql_type = BigInt)]
    pk: i64,
}

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    is_unique: bool,
    #[diesel(sql_type = Nullable<Text>)]
    definition: Option<String>,
}

/// Reads the schema of the connection's database. On PostgreSQL `pg_schema` names the schema
/// (`None`: `current_schema()`).
pub(crate) async fn introspect(
    conn: &mut Direct,
    pg_schema: Option<&str>,
) -> Result<Schema, DbError> {
    let mut schema = Schema::default();
    let nsp = pg_schema.map_or_else(|| "current_schema()".to_owned(), literal);
    let names: Vec<Name> = match conn.backend() {
        Backend::Sqlite => {
            conn.rows(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .await?
        }
        Backend::Postgres => {
            conn.rows(&format!(
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = {nsp} AND table_type = 'BASE TABLE' ORDER BY 1"
            ))
            .await?
        }
    };
    for Name { name } in names {
        if LEDGER_TABLES.contains(&name.as_str()) {
            continue;
        }
        let table = match conn.backend() {
            Backend::Sqlite => sqlite_table(conn, &name).await?,
            Backend::Postgres => pg_table(conn, &nsp, &name).await?,
        };
        schema.tables.insert(name, table);
    }
    Ok(schema)
}

async fn sqlite_table(conn: &mut Direct, name: &str) -> Result<Table, DbError> {
    let t = literal(name);
    let cols: Vec<ColumnRow> = conn
        .rows(&format!(
            "SELECT name, lower(type) AS data_type, \"notnull\" AS not_null, pk \
             FROM pragma_table_info({t}) ORDER BY cid"
        ))
        .await?;
    let idx: Vec<IndexRow> = conn
        .rows(&format!(
            "SELECT l.name AS name, l.\"unique\" AS is_unique, m.sql AS definition \
             FROM pragma_index_list({t}) l LEFT JOIN sqlite_master m \
             ON m.type = 'index' AND m.name = l.name"
        ))
        .await?;
    let mut indexes = BTreeMap::new();
    for i in idx {
        let definition = match i.definition {
            Some(sql) => sql.split_whitespace().collect::<Vec<_>>().join(" "),
            None => {
                let cols: Vec<Name> = conn
                    .rows(&format!(
                        "SELECT name FROM pragma_index_info({}) ORDER BY seqno",
                        literal(&i.name)
                    ))
                    .await?;
                format!(
                    "({})",
                    cols.into_iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        };
        indexes.insert(
            i.name.clone(),
            Index {
                name: i.name,
                unique: i.is_unique,
                definition,
            },
        );
    }
    let refs: Vec<Name> = conn
        .rows(&format!(
            "SELECT DISTINCT \"table\" AS name FROM pragma_foreign_key_list({t}) ORDER BY 1"
        ))
        .await?;
    Ok(table(name, cols, indexes, refs, |c| {
        !c.not_null && c.pk == 0
    }))
}

async fn pg_table(conn: &mut Direct, nsp: &str, name: &str) -> Result<Table, DbError> {
    let t = literal(name);
    let rel = format!(
        "(SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = {nsp} AND c.relname = {t})"
    );
    let cols: Vec<ColumnRow> = conn
        .rows(&format!(
            "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS data_type, \
             a.attnotnull AS not_null, \
             COALESCE((SELECT array_position(string_to_array(ix.indkey::text, ' ')::int2[], a.attnum) FROM pg_index ix \
                       WHERE ix.indrelid = a.attrelid AND ix.indisprimary), 0)::bigint AS pk \
             FROM pg_attribute a WHERE a.attrelid = {rel} AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum"
        ))
        .await?;
    let idx: Vec<IndexRow> = conn
        .rows(&format!(
            "SELECT i.relname::text AS name, ix.indisunique AS is_unique, \
             pg_get_indexdef(ix.indexrelid) AS definition \
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
             WHERE ix.indrelid = {rel}"
        ))
        .await?;
    let schema_prefix: Vec<Name> = conn.rows(&format!("SELECT ({nsp})::text AS name")).await?;
    let prefix = schema_prefix
        .first()
        .map(|n| format!("ON {}.", n.name))
        .unwrap_or_default();
    let indexes = idx
        .into_iter()
        .map(|i| {
            let definition = i.definition.unwrap_or_default().replace(&prefix, "ON ");
            (
                i.name.clone(),
                Index {
                    name: i.name,
                    unique: i.is_unique,
                    definition,
                },
            )
        })
        .collect();
    let refs: Vec<Name> = conn
        .rows(&format!(
            "SELECT DISTINCT cf.relname::text AS name FROM pg_constraint co \
             JOIN pg_class cf ON cf.oid = co.confrelid \
             WHERE co.contype = 'f' AND co.conrelid = {rel} ORDER BY 1"
        ))
        .await?;
    Ok(table(name, cols, indexes, refs, |c| !c.not_null))
}

/// The [`Table`] `name` from its catalogue rows: columns in order (`nullable` decides each
/// column's nullability), the primary key in key order, `indexes`, and the referenced tables.
fn table(
    name: &str,
    cols: Vec<ColumnRow>,
    indexes: BTreeMap<String, Index>,
    refs: Vec<Name>,
    nullable: impl Fn(&ColumnRow) -> bool,
) -> Table {
    let mut pk: Vec<(i64, String)> = cols
        .iter()
        .filter(|c| c.pk > 0)
        .map(|c| (c.pk, c.name.clone()))
        .collect();
    pk.sort();
    Table {
        name: name.to_owned(),
        columns: cols
            .into_iter()
            .map(|c| Column {
                nullable: nullable(&c),
                name: c.name,
                data_type: c.data_type,
            })
            .collect(),
        primary_key: pk.into_iter().map(|(_, n)| n).collect(),
        indexes,
        references: refs.into_iter().map(|r| r.name).collect(),
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `SELECT count(*)` of `table`.
pub(crate) async fn row_count(conn: &mut Direct, table: &str) -> Result<u64, DbError> {
    let rows: Vec<Count> = conn
        .rows(&format!("SELECT count(*) AS n FROM {}", ident(table)))
        .await?;
    Ok(rows.first().map_or(0, |r| u64::try_from(r.n).unwrap_or(0)))
}

/// Size of the database in bytes: `pg_database_size` on PostgreSQL; on SQLite the file plus
/// its `-wal` file (`path` is the database file).
pub(crate) async fn size_bytes(
    conn: &mut Direct,
    path: Option<&std::path::Path>,
) -> Result<u64, DbError> {
    match conn.backend() {
        Backend::Postgres => {
            let rows: Vec<Count> = conn
                .rows("SELECT pg_database_size(current_database())::bigint AS n")
                .await?;
            Ok(rows.first().map_or(0, |r| u64::try_from(r.n).unwrap_or(0)))
        }
        Backend::Sqlite => {
            let Some(path) = path else { return Ok(0) };
            let main = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            let wal = std::fs::metadata(std::path::PathBuf::from(wal))
                .map(|m| m.len())
                .unwrap_or(0);
            Ok(main + wal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, refs: &[&str]) -> Table {
        Table {
            name: name.into(),
            columns: vec![],
            primary_key: vec![],
            indexes: BTreeMap::new(),
            references: refs.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn dependency_order_puts_parents_first() {
        let mut s = Schema::default();
        for t in [
            table("agent_switches", &["agent_contexts"]),
            table("agent_contexts", &["sessions"]),
            table("messages", &["sessions"]),
            table("sessions", &[]),
            table("tree", &["tree"]),
        ] {
            s.tables.insert(t.name.clone(), t);
        }
        let order = s.dependency_order();
        let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
        assert!(pos("sessions") < pos("messages"));
        assert!(pos("sessions") < pos("agent_contexts"));
        assert!(pos("agent_contexts") < pos("agent_switches"));
        assert_eq!(order.len(), 5);
    }
}
