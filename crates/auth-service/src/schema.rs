//! Diesel schema shared by both backends, written by hand (see agent-runtime's `schema.rs` for
//! why): `details` is [`db_core::sql_types::Json`] (JSONB on PostgreSQL, TEXT on SQLite), ids
//! are `BigInt`, timestamps are UTC without zone. `tests/api/schema.rs` checks every table and
//! column against both migrated databases.
#![allow(missing_docs)]

diesel::table! {
    users (id) {
        id -> BigInt,
        user_id -> Varchar,
        username -> Varchar,
        email -> Nullable<Varchar>,
        password_hash -> Text,
        scopes -> Varchar,
        is_active -> Bool,
        is_verified -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        password_changed_at -> Timestamp,
    }
}

diesel::table! {
    oauth_clients (id) {
        id -> BigInt,
        client_id -> Varchar,
        client_secret_hash -> Nullable<Text>,
        name -> Varchar,
        description -> Text,
        is_confidential -> Bool,
        allowed_scopes -> Varchar,
        allowed_grant_types -> Varchar,
        access_token_lifetime_secs -> BigInt,
        refresh_token_lifetime_secs -> BigInt,
        is_active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        token_hash -> Varchar,
        family_id -> Varchar,
        parent_id -> Nullable<BigInt>,
        user_id -> BigInt,
        client_id -> Varchar,
        scope -> Varchar,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Varchar>,
        successor_sealed -> Nullable<Varchar>,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> BigInt,
        kid -> Varchar,
        algorithm -> Varchar,
        private_key_pem -> Text,
        public_jwk -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        publish_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use db_core::sql_types::Json;

    audit_logs (id) {
        id -> BigInt,
        event_type -> Varchar,
        user_id -> Nullable<BigInt>,
        username -> Nullable<Varchar>,
        client_id -> Nullable<Varchar>,
        ip_address -> Nullable<Varchar>,
        user_agent -> Nullable<Varchar>,
        success -> Bool,
        details -> Json,
        created_at -> Timestamp,
    }
}

diesel::table! {
    login_attempts (attempt_key) {
        attempt_key -> Varchar,
        failures -> Integer,
        window_started_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(audit_logs -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    oauth_clients,
    refresh_tokens,
    signing_keys,
    audit_logs,
    login_attempts,
);
