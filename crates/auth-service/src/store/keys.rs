//! Signing keys: every replica signs with the newest key and publishes every key whose tokens
//! may still be valid.

use super::Store;
use crate::error::Result;
use crate::model::Audit;
use crate::schema::signing_keys;
use chrono::NaiveDateTime;
use db_core::timestamp::now;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// A stored signing key.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct KeyRecord {
    /// Row id.
    pub id: i64,
    /// Key id (`kid` header and JWK member).
    pub kid: String,
    /// JWS algorithm, e.g. `RS256`.
    pub algorithm: String,
    /// PKCS#8 PEM of the private key.
    pub private_key_pem: String,
    /// The public key as a JWK (RFC 7517) JSON object.
    pub public_jwk: String,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
    /// When it stopped signing.
    pub retired_at: Option<NaiveDateTime>,
    /// Published in the JWK Set until then (UTC).
    pub publish_until: Option<NaiveDateTime>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A key to store.
#[derive(Clone, Insertable)]
#[diesel(table_name = signing_keys)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewKey {
    /// Key id.
    pub kid: String,
    /// JWS algorithm.
    pub algorithm: String,
    /// PKCS#8 PEM.
    pub private_key_pem: String,
    /// Public JWK JSON.
    pub public_jwk: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// `None` for a new key.
    pub retired_at: Option<NaiveDateTime>,
    /// `None` for a new key.
    pub publish_until: Option<NaiveDateTime>,
}

impl Store {
    /// Keys to publish now, newest first: those still signing and retired ones whose
    /// `publish_until` is in the future.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn published_keys(&self) -> Result<Vec<KeyRecord>> {
        read_op!(self, |c| {
            let at = now();
            Ok(signing_keys::table
                .filter(
                    signing_keys::retired_at
                        .is_null()
                        .or(signing_keys::publish_until.gt(at)),
                )
                .order((signing_keys::created_at.desc(), signing_keys::id.desc()))
                .select(KeyRecord::as_select())
                .load(c)
                .await?)
        })
    }

    /// Stores `key` unless a signing (not retired) key exists already — in one transaction, so
    /// a replica that loses the race keeps the other's key. Returns whether `key` was stored.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn insert_first_key(&self, key: NewKey) -> Result<bool> {
        write_op!(self, |c| {
            let existing: i64 = signing_keys::table
                .filter(signing_keys::retired_at.is_null())
                .count()
                .get_result(c)
                .await?;
            if existing > 0 {
                return Ok(false);
            }
            diesel::insert_into(signing_keys::table)
                .values(key)
                .execute(c)
                .await?;
            Ok(true)
        })
    }

    /// Retires every signing key (published until `publish_until`), stores `key` as the new
    /// signing key and writes `audit`, in one transaction.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn rotate_key(
        &self,
        key: NewKey,
        publish_until: NaiveDateTime,
        audit: Audit,
    ) -> Result<()> {
        write_op!(self, |c| {
            let at = now();
            diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
                .set((
                    signing_keys::retired_at.eq(at),
                    signing_keys::publish_until.eq(publish_until),
                ))
                .execute(c)
                .await?;
            diesel::insert_into(signing_keys::table)
                .values(key)
                .execute(c)
                .await?;
            audit!(c, audit);
            Ok(())
        })
    }
}
