//! Refresh-token families: issue, rotate with reuse detection, revoke.
//!
//! RFC 9700 §4.14.2: refresh tokens are rotated on every use; presenting an already rotated
//! token after the grace window means it leaked (or the legitimate client lost a response) and
//! the whole family is revoked. Within the grace window a retried request (a client that lost
//! the response) gets the *same* successor again, opened from the rotated row's sealed copy
//! ([`super::successor`]), so a family never forks into two live branches; once that successor
//! has itself been rotated, the retry is reuse.
//!
//! Races with revocations are closed by the user row lock of [`super::locks`]: rotation,
//! login and every revocation of a user's tokens take it first and decide only on what they
//! read after it, and the rotating UPDATE re-checks `revoked_at IS NULL` as well.

use super::locks::LockUser as _;
use super::successor::{seal, unseal};
use super::{ClientRecord, Store, UserRecord};
use crate::error::{Error, Result};
use crate::model::{Audit, AuditEvent, RequestContext, Scopes};
use crate::oauth::sha256_hex;
use crate::schema::{oauth_clients, refresh_tokens, users};
use chrono::{Duration, NaiveDateTime};
use db_core::timestamp::now;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use secrecy::{ExposeSecret as _, SecretString};

/// A stored refresh token.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct RefreshRecord {
    /// Row id.
    pub id: i64,
    /// Hex sha256 of the token.
    pub token_hash: String,
    /// Rotation family (one login).
    pub family_id: String,
    /// The token this one replaced.
    pub parent_id: Option<i64>,
    /// Owner (users.id).
    pub user_id: i64,
    /// Client the family was issued to.
    pub client_id: String,
    /// Space-separated scopes of the family.
    pub scope: String,
    /// Issue time (UTC).
    pub created_at: NaiveDateTime,
    /// Absolute expiry of the family (UTC).
    pub expires_at: NaiveDateTime,
    /// When it was exchanged for a successor.
    pub rotated_at: Option<NaiveDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<NaiveDateTime>,
    /// Why: `revoked`, `reuse_detected`, `password_changed`, `user_disabled`.
    pub revoked_reason: Option<String>,
    /// Once rotated: the successor sealed under this token's value (64 hex digits).
    pub successor_sealed: Option<String>,
}

/// A refresh token to store for a new family.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// Hex sha256 of the token value.
    pub token_hash: String,
    /// Owner (users.id).
    pub user_id: i64,
    /// Client.
    pub client_id: String,
    /// Scopes.
    pub scope: Scopes,
    /// Absolute lifetime of the family, seconds.
    pub lifetime_secs: i64,
}

/// A token to store. A new token is neither rotated nor revoked and has no successor yet:
/// those columns start NULL.
#[derive(Insertable)]
#[diesel(table_name = refresh_tokens)]
#[diesel(treat_none_as_default_value = false)]
struct NewRefreshRow {
    token_hash: String,
    family_id: String,
    parent_id: Option<i64>,
    user_id: i64,
    client_id: String,
    scope: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

/// What a refresh attempt came to.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// The presented token was rotated and its successor stored, or it had been rotated
    /// within the grace window and its still unused successor is handed out again.
    Rotated {
        /// The successor's value, for the client.
        refresh_token: String,
        /// The token's user.
        user: Box<UserRecord>,
        /// The token's client.
        client: Box<ClientRecord>,
        /// Scopes of the family.
        scope: Scopes,
    },
    /// Unknown, expired, revoked, issued to another client, or its user or client is
    /// disabled. The reason is for the log and audit, never for the client.
    Invalid(&'static str),
    /// The request asked for scopes beyond the family's (RFC 6749 §6); nothing was rotated.
    ScopeExceeded,
    /// A rotated token came back after the grace window: its family is now revoked (committed).
    Reuse {
        /// Family revoked.
        family_id: String,
        /// Tokens revoked by this detection.
        revoked: usize,
    },
}

impl Store {
    /// Records a successful password login of user row `user_id` (last login, `audit`) and, when
    /// `refresh` is given, stores it as the first token of a new family — in one transaction,
    /// under the user's row lock, and only if the user is still active and still has
    /// `verified_hash`, the password hash the login was checked against (a password change or
    /// a disable that committed meanwhile wins).
    ///
    /// # Errors
    /// `Unauthenticated` (`INVALID_GRANT`, as a wrong password) when the user changed in
    /// between; database errors.
    pub async fn complete_login(
        &self,
        user_id: i64,
        verified_hash: String,
        refresh: Option<NewRefreshToken>,
        audit: Audit,
    ) -> Result<()> {
        write_op!(self, |c| {
            let current = c.lock_user(user_id).await?;
            if !current.is_some_and(|u| u.is_active && u.password_hash == verified_hash) {
                return Err(Error::bad_credentials());
            }
            let at = now();
            diesel::update(users::table.find(user_id))
                .set(users::last_login_at.eq(at))
                .execute(c)
                .await?;
            if let Some(t) = refresh {
                diesel::insert_into(refresh_tokens::table)
                    .values(NewRefreshRow {
                        token_hash: t.token_hash,
                        family_id: uuid::Uuid::now_v7().to_string(),
                        parent_id: None,
                        user_id: t.user_id,
                        client_id: t.client_id,
                        scope: t.scope.to_string(),
                        created_at: at,
                        expires_at: at + Duration::seconds(t.lifetime_secs),
                    })
                    .execute(c)
                    .await?;
            }
            audit!(c, audit);
            Ok(())
        })
    }

    /// Exchanges the refresh token `presented` (for client `client_id`) for a successor, in one
    /// transaction under the user's row lock; `requested` scopes (if any) must be within the
    /// family's. A first use stores `candidate` as the successor. A use within `grace_secs`
    /// seconds of the rotation gets the same successor back while that successor is unused; a
    /// later use, or one after the successor was itself rotated, is reuse: the family is
    /// revoked and a `refresh_token_reuse` audit event written.
    ///
    /// # Errors
    /// Database errors only; every refusal is a [`RefreshOutcome`].
    pub async fn rotate_refresh(
        &self,
        presented: SecretString,
        client_id: String,
        candidate: String,
        requested: Option<Scopes>,
        grace_secs: i64,
        context: RequestContext,
    ) -> Result<RefreshOutcome> {
        write_op!(self, |c| {
            let hash = sha256_hex(presented.expose_secret());
            let by_hash = |hash: String| {
                refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(hash))
                    .select(RefreshRecord::as_select())
            };
            let Some(token) = by_hash(hash.clone()).first(c).await.optional()? else {
                return Ok(RefreshOutcome::Invalid("unknown refresh token"));
            };
            // Lock first, then read again what the decision rests on: a revocation that
            // committed while this waited is seen now.
            let Some(user) = c.lock_user(token.user_id).await? else {
                return Ok(RefreshOutcome::Invalid("user deleted"));
            };
            let Some(token) = by_hash(hash).first(c).await.optional()? else {
                return Ok(RefreshOutcome::Invalid("unknown refresh token"));
            };
            let at = now();
            if token.client_id != client_id {
                return Ok(RefreshOutcome::Invalid(
                    "refresh token issued to another client",
                ));
            }
            if token.revoked_at.is_some() {
                return Ok(RefreshOutcome::Invalid("refresh token revoked"));
            }
            if token.expires_at <= at {
                return Ok(RefreshOutcome::Invalid("refresh token expired"));
            }
            let client: ClientRecord = oauth_clients::table
                .filter(oauth_clients::client_id.eq(&token.client_id))
                .select(ClientRecord::as_select())
                .first(c)
                .await?;
            if !user.is_active {
                return Ok(RefreshOutcome::Invalid("user disabled"));
            }
            if !client.is_active {
                return Ok(RefreshOutcome::Invalid("client disabled"));
            }
            if requested
                .as_ref()
                .is_some_and(|r| !r.is_subset(&Scopes::from_stored(&token.scope)))
            {
                return Ok(RefreshOutcome::ScopeExceeded);
            }
            let rotated = |successor: String, retry: bool| {
                Audit::new(AuditEvent::TokenRefresh, true, &context)
                    .user(Some(user.id), user.username.clone())
                    .client(client_id.clone())
                    .detail("family_id", token.family_id.clone())
                    .detail("grace_retry", retry)
                    .detail("successor", successor)
            };
            let Some(rotated_at) = token.rotated_at else {
                let Some(sealed) = seal(presented.expose_secret(), &candidate) else {
                    return Err(Error::Internal(
                        "sealing the refresh-token successor failed".into(),
                    ));
                };
                // Conditional: a revocation or rotation this transaction did not see (it cannot
                // happen under the lock, but the statement does not rely on it) leaves 0 rows.
                let n = diesel::update(
                    refresh_tokens::table
                        .find(token.id)
                        .filter(refresh_tokens::rotated_at.is_null())
                        .filter(refresh_tokens::revoked_at.is_null()),
                )
                .set((
                    refresh_tokens::rotated_at.eq(at),
                    refresh_tokens::successor_sealed.eq(sealed),
                ))
                .execute(c)
                .await?;
                if n == 0 {
                    return Ok(RefreshOutcome::Invalid("refresh token changed meanwhile"));
                }
                diesel::insert_into(refresh_tokens::table)
                    .values(NewRefreshRow {
                        token_hash: sha256_hex(&candidate),
                        family_id: token.family_id.clone(),
                        parent_id: Some(token.id),
                        user_id: token.user_id,
                        client_id: token.client_id.clone(),
                        scope: token.scope.clone(),
                        created_at: at,
                        expires_at: token.expires_at,
                    })
                    .execute(c)
                    .await?;
                audit!(c, rotated("new".into(), false));
                return Ok(RefreshOutcome::Rotated {
                    refresh_token: candidate,
                    scope: Scopes::from_stored(&token.scope),
                    user: Box::new(user),
                    client: Box::new(client),
                });
            };
            // Already rotated: inside the grace window, the same successor if still unused.
            let successor = (at - rotated_at <= Duration::seconds(grace_secs))
                .then_some(token.successor_sealed.as_deref())
                .flatten()
                .and_then(|sealed| unseal(presented.expose_secret(), sealed));
            if let Some(successor) = successor {
                let next = by_hash(sha256_hex(&successor)).first(c).await.optional()?;
                match next {
                    Some(n) if n.rotated_at.is_none() && n.revoked_at.is_none() => {
                        audit!(c, rotated("same".into(), true));
                        return Ok(RefreshOutcome::Rotated {
                            refresh_token: successor,
                            scope: Scopes::from_stored(&token.scope),
                            user: Box::new(user),
                            client: Box::new(client),
                        });
                    }
                    Some(n) if n.rotated_at.is_none() => {
                        return Ok(RefreshOutcome::Invalid("refresh token revoked"));
                    }
                    // Its successor was used already (or is gone): this is reuse.
                    _ => {}
                }
            }
            let revoked = diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::family_id.eq(&token.family_id))
                    .filter(refresh_tokens::revoked_at.is_null()),
            )
            .set((
                refresh_tokens::revoked_at.eq(at),
                refresh_tokens::revoked_reason.eq("reuse_detected"),
            ))
            .execute(c)
            .await?;
            audit!(
                c,
                Audit::new(AuditEvent::RefreshTokenReuse, false, &context)
                    .user(Some(user.id), user.username.clone())
                    .client(client_id.clone())
                    .detail("family_id", token.family_id.clone())
                    .detail("revoked_refresh_tokens", revoked)
            );
            Ok(RefreshOutcome::Reuse {
                family_id: token.family_id,
                revoked,
            })
        })
    }

    /// The refresh token hashed `hash` with its user, if stored.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn refresh_token(&self, hash: String) -> Result<Option<(RefreshRecord, UserRecord)>> {
        read_op!(self, |c| {
            Ok(refresh_tokens::table
                .inner_join(users::table)
                .filter(refresh_tokens::token_hash.eq(hash))
                .select((RefreshRecord::as_select(), UserRecord::as_select()))
                .first(c)
                .await
                .optional()?)
        })
    }

    /// Revokes the family of the refresh token hashed `hash` (RFC 7009), if it exists and
    /// `owner` holds it. Writes `audit` when something was revoked. Returns the number of
    /// tokens revoked.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn revoke_family(
        &self,
        hash: String,
        owner: FamilyOwner,
        audit: Audit,
    ) -> Result<usize> {
        write_op!(self, |c| {
            let Some(token) = refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(&hash))
                .select(RefreshRecord::as_select())
                .first(c)
                .await
                .optional()?
            else {
                return Ok(0);
            };
            let held = match &owner {
                FamilyOwner::Any => true,
                FamilyOwner::User(user) => *user == token.user_id,
                FamilyOwner::Client(client) => *client == token.client_id,
            };
            if !held {
                return Ok(0);
            }
            // Waits for a refresh of this user in flight, so the UPDATE below sees its successor.
            c.lock_user(token.user_id).await?;
            let revoked = diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::family_id.eq(&token.family_id))
                    .filter(refresh_tokens::revoked_at.is_null()),
            )
            .set((
                refresh_tokens::revoked_at.eq(now()),
                refresh_tokens::revoked_reason.eq("revoked"),
            ))
            .execute(c)
            .await?;
            if revoked > 0 {
                let mut audit = audit
                    .client(token.client_id.clone())
                    .detail("family_id", token.family_id)
                    .detail("revoked_refresh_tokens", revoked);
                audit.user_db_id = Some(token.user_id);
                audit!(c, audit);
            }
            Ok(revoked)
        })
    }
}

/// Whose refresh tokens a revocation may touch ([`Store::revoke_family`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FamilyOwner {
    /// Any token (an api:admin caller).
    Any,
    /// The tokens of user row `id`.
    User(i64),
    /// The tokens issued to client `client_id` (RFC 7009 §2.1).
    Client(String),
}
