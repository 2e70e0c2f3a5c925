//! The macros that run one query body on whichever backend a [`DbConn`](crate::DbConn) holds.

/// Runs `body` in a read-write transaction, with `conn` bound to the backend's connection type.
///
/// SQLite transactions begin `IMMEDIATE` (the write lock is taken up front, so two writers never
/// deadlock upgrading a read lock); PostgreSQL uses the default `READ COMMITTED`. The body is an
/// expression of type `Result<T, E>` where `E: From<diesel::result::Error>`; an `Err` rolls
/// back. It is compiled once per backend, so it may only use queries both support.
///
/// ```ignore
/// let mut conn = pool.get().await?;
/// let n = db_core::transaction!(conn, |c| {
///     diesel::delete(sessions::table).execute(c).await
/// })?;
/// ```
#[macro_export]
macro_rules! transaction {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConn::Postgres(ref mut __conn) => {
                $crate::__private::AsyncConnection::transaction(&mut **__conn, async move |$c| {
                    $body
                })
                .await
            }
            $crate::DbConn::Sqlite(ref mut __conn, ref __writer) => {
                let _writer = __writer.lock().await;
                let __c: &mut $crate::__private::SqliteConn = &mut **__conn;
                match $crate::__private::sqlite_begin_immediate(__c).await {
                    Err(e) => Err(e.into()),
                    Ok(()) => {
                        let __result = {
                            let $c = &mut *__c;
                            async move { $body }.await
                        };
                        match $crate::__private::sqlite_finish(__c, __result.is_ok()).await {
                            Ok(()) => __result,
                            Err(e) => Err(e.into()),
                        }
                    }
                }
            }
        }
    };
}

/// Runs `body` in a read-only snapshot: PostgreSQL `REPEATABLE READ READ ONLY`, SQLite a
/// deferred transaction (one WAL snapshot). Use it when one answer reads several queries (a
/// page and its total). Same body rules as [`transaction!`](crate::transaction).
#[macro_export]
macro_rules! read_transaction {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConn::Postgres(ref mut __conn) => {
                __conn
                    .build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run(async move |$c| $body)
                    .await
            }
            $crate::DbConn::Sqlite(ref mut __conn, _) => {
                $crate::__private::AsyncConnection::transaction(&mut **__conn, async move |$c| {
                    $body
                })
                .await
            }
        }
    };
}

/// Runs `body` on the connection without opening a transaction (single statements).
///
/// On PostgreSQL each statement then runs in an implicit transaction that commits when the
/// server reaches the protocol's Sync, after the statement's rows have been sent. A statement
/// that writes must therefore be read to the end — `execute`, or `load` and take the row —
/// before its outcome is trusted: `get_result` and `first` return on the first row, so they
/// would report success for a write whose commit then failed (a deferred constraint, a
/// server shutting down). Reads may use them.
#[macro_export]
macro_rules! with_connection {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConn::Postgres(ref mut __conn) => {
                let $c: &mut $crate::__private::PgConn = &mut **__conn;
                $body
            }
            $crate::DbConn::Sqlite(ref mut __conn, _) => {
                let $c: &mut $crate::__private::SqliteConn = &mut **__conn;
                $body
            }
        }
    };
}
