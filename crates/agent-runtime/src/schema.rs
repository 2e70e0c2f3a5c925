//! Diesel schema shared by both backends.
//!
//! Written by hand rather than by `diesel print-schema`, because one file serves two backends:
//! JSON columns are [`db_core::sql_types::Json`] (JSONB on PostgreSQL, TEXT on SQLite) and ids
//! are `BigInt` (SQLite's `INTEGER PRIMARY KEY` is 64-bit). Timestamps are UTC without zone.
//! `tests/schema.rs` checks every table and column against both migrated databases.
#![allow(missing_docs)]

diesel::table! {
    use diesel::sql_types::*;
    use db_core::sql_types::Json;

    sessions (id) {
        id -> BigInt,
        session_id -> Varchar,
        owner -> Varchar,
        title -> Varchar,
        description -> Text,
        metadata_json -> Nullable<Json>,
        created_at -> Timestamp,
        last_activity -> Timestamp,
        is_active -> Bool,
        deleted_at -> Nullable<Timestamp>,
        message_count -> BigInt,
        total_tokens -> BigInt,
        user_messages -> BigInt,
        assistant_messages -> BigInt,
        system_messages -> BigInt,
        tool_messages -> BigInt,
        last_message_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use db_core::sql_types::Json;

    messages (id) {
        id -> BigInt,
        session_db_id -> BigInt,
        seq -> BigInt,
        role -> Varchar,
        content -> Nullable<Text>,
        name -> Nullable<Varchar>,
        tool_call_id -> Nullable<Varchar>,
        tool_calls -> Nullable<Json>,
        token_count -> Integer,
        metadata_json -> Nullable<Json>,
        timestamp -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use db_core::sql_types::Json;

    agent_contexts (id) {
        id -> BigInt,
        session_db_id -> BigInt,
        current_agent -> Varchar,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        switch_count -> Integer,
        metadata_json -> Nullable<Json>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use db_core::sql_types::Json;

    agent_switches (id) {
        id -> BigInt,
        context_db_id -> BigInt,
        from_agent -> Nullable<Varchar>,
        to_agent -> Varchar,
        switched_at -> Timestamp,
        reason -> Nullable<Text>,
        metadata_json -> Nullable<Json>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use db_core::sql_types::Json;

    pending_approvals (id) {
        id -> BigInt,
        approval_id -> Varchar,
        session_db_id -> BigInt,
        call_id -> Varchar,
        tool_name -> Varchar,
        arguments_json -> Nullable<Json>,
        reason -> Text,
        status -> Varchar,
        created_at -> Timestamp,
        resolved_at -> Nullable<Timestamp>,
        resolved_by -> Nullable<Varchar>,
        requested_by -> Nullable<Varchar>,
    }
}

diesel::joinable!(messages -> sessions (session_db_id));
diesel::joinable!(agent_contexts -> sessions (session_db_id));
diesel::joinable!(agent_switches -> agent_contexts (context_db_id));
diesel::joinable!(pending_approvals -> sessions (session_db_id));

diesel::allow_tables_to_appear_in_same_query!(
    sessions,
    messages,
    agent_contexts,
    agent_switches,
    pending_approvals,
);
