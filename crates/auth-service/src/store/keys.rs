//! Signing keys: every replica signs with the newest key and publishes every key whose tokens
//! may still be valid.

use super::Store;
use crate::error::{Error, Result};
use crate::kek::{KekError, Keks};
use crate::model::Audit;
use crate::schema::signing_keys;
use chrono::NaiveDateTime;
use db_core::timestamp::now;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use secrecy::SecretString;

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
    /// The private key (PKCS#8 PEM) sealed under the key-encryption key: an envelope of
    /// [`crate::kek`] (column `private_key_pem`, which held the plaintext PEM before).
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

/// A key to store. A new key is neither retired nor leaving the JWK Set: `retired_at` and
/// `publish_until` start NULL.
#[derive(Clone, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct NewKey {
    /// Key id.
    pub kid: String,
    /// JWS algorithm.
    pub algorithm: String,
    /// The sealed private key ([`Keks::seal`]); never a plaintext PEM.
    pub private_key_pem: String,
    /// Public JWK JSON.
    pub public_jwk: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

/// Which rows [`Store::seal_signing_keys`] rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reseal {
    /// Only plaintext rows (start-up: databases made before envelope encryption, or restored
    /// from their backups).
    Plaintext,
    /// Plaintext rows and rows sealed under another KEK than the first (`codelab auth
    /// rotate-kek`).
    NotUnderPrimary,
}

/// What [`Store::seal_signing_keys`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Rows checked (every signing key, published or not).
    pub rows: usize,
    /// `kid`s of the rows rewritten under the first KEK.
    pub rewritten: Vec<String>,
}

/// Why [`Store::seal_signing_keys`] failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A stored key does not open under the configured KEKs (the message names the variable).
    #[error(transparent)]
    Kek(#[from] KekError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<db_core::DbError> for SealError {
    fn from(e: db_core::DbError) -> Self {
        SealError::Store(e.into())
    }
}

impl From<diesel::result::Error> for SealError {
    fn from(e: diesel::result::Error) -> Self {
        SealError::Store(e.into())
    }
}

impl Store {
    /// Checks that every signing key opens under `keks` and seals the rows `reseal` names
    /// under the first KEK, all in one transaction: either every row is readable and rewritten,
    /// or nothing changes. A plaintext row is sealed as it is (same `kid`, same key).
    ///
    /// # Errors
    /// [`SealError::Kek`] naming `AUTH_SERVICE__KEY_ENCRYPTION_KEY` when a row does not open;
    /// database errors.
    pub async fn seal_signing_keys(
        &self,
        keks: &Keks,
        reseal: Reseal,
    ) -> std::result::Result<Sealed, SealError> {
        let keks = keks.clone();
        write_op!(self, |c| {
            // Bounded: one row per rotation ever made.
            let rows: Vec<(i64, String, String)> = signing_keys::table
                .select((
                    signing_keys::id,
                    signing_keys::kid,
                    signing_keys::private_key_pem,
                ))
                .order(signing_keys::id)
                .load(c)
                .await?;
            let mut rewritten = Vec::new();
            for (id, kid, stored) in &rows {
                let pem = if crate::kek::is_plaintext(stored) {
                    SecretString::from(stored.clone())
                } else {
                    let pem = keks.open(kid, stored)?;
                    if reseal == Reseal::Plaintext || keks.is_sealed_under_primary(stored) {
                        continue;
                    }
                    pem
                };
                let sealed = keks.seal(kid, &pem)?;
                diesel::update(signing_keys::table.filter(signing_keys::id.eq(*id)))
                    .set(signing_keys::private_key_pem.eq(sealed))
                    .execute(c)
                    .await?;
                rewritten.push(kid.clone());
            }
            Ok(Sealed {
                rows: rows.len(),
                rewritten,
            })
        })
    }

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
