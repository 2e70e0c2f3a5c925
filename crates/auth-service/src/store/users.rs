//! Users.

use super::{Store, conflict};
use crate::error::{Error, Result};
use crate::model::{Audit, NewUser, Scopes, User, UserUpdate};
use crate::schema::{refresh_tokens, users};
use chrono::NaiveDateTime;
use db_core::Conn;
use db_core::timestamp::{now, utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use sha2::Digest as _;

/// A user with what only the token logic may see.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct UserRecord {
    /// Internal row id (foreign keys).
    pub id: i64,
    /// Public id.
    pub user_id: String,
    /// Lower-case username.
    pub username: String,
    /// Lower-case email.
    pub email: Option<String>,
    /// PHC string (or bcrypt hash of an imported user).
    pub password_hash: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Active flag.
    pub is_active: bool,
    /// Verified flag.
    pub is_verified: bool,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
    /// Last successful login (UTC).
    pub last_login_at: Option<NaiveDateTime>,
    /// Last password change (UTC).
    pub password_changed_at: NaiveDateTime,
}

impl UserRecord {
    /// The client-visible user.
    pub fn to_user(&self) -> User {
        User {
            user_id: self.user_id.clone(),
            username: self.username.clone(),
            email: self.email.clone(),
            is_active: self.is_active,
            is_verified: self.is_verified,
            scopes: Scopes::from_stored(&self.scopes),
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
            last_login_at: self.last_login_at.map(utc),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
#[diesel(treat_none_as_default_value = false)]
struct NewUserRow {
    user_id: String,
    username: String,
    email: Option<String>,
    password_hash: String,
    scopes: String,
    is_active: bool,
    is_verified: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    last_login_at: Option<NaiveDateTime>,
    password_changed_at: NaiveDateTime,
}

/// Which value a unique violation on `users` concerns.
fn user_conflict(
    username: String,
    email: Option<String>,
) -> impl Fn(&str) -> (&'static str, String) {
    move |constraint| {
        if constraint.contains("email") {
            ("email", email.clone().unwrap_or_default())
        } else {
            ("user", username.clone())
        }
    }
}

/// How [`find_user`] looks a user up.
enum UserKey {
    /// By lower-case username.
    Username(String),
    /// By public id.
    PublicId(String),
}

/// The user `key` names, if any.
async fn find_user(c: &mut impl Conn, key: UserKey) -> Result<Option<UserRecord>> {
    let row = db_core::on_conn!(c, |c| {
        let q = users::table.select(UserRecord::as_select()).into_boxed();
        let q = match &key {
            UserKey::Username(username) => q.filter(users::username.eq(username)),
            UserKey::PublicId(user_id) => q.filter(users::user_id.eq(user_id)),
        };
        q.first(c).await.optional()
    })?;
    Ok(row)
}

/// Writes `audit` about the user of `row` (with its row id) and returns the user.
async fn audited(c: &mut impl Conn, row: UserRecord, mut audit: Audit) -> Result<User> {
    audit.user_db_id = Some(row.id);
    db_core::on_conn!(c, |c| audit!(c, audit));
    Ok(row.to_user())
}

/// Revokes every live refresh token of user row `user` at `at` for `reason`; returns how
/// many.
async fn revoke_tokens_of(
    c: &mut impl Conn,
    user: i64,
    at: NaiveDateTime,
    reason: &'static str,
) -> Result<usize> {
    let revoked = db_core::on_conn!(c, |c| {
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::user_id.eq(user))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set((
            refresh_tokens::revoked_at.eq(at),
            refresh_tokens::revoked_reason.eq(reason),
        ))
        .execute(c)
        .await
    })?;
    Ok(revoked)
}

impl Store {
    /// Creates a user with a new UUIDv7 id and writes `audit` with it.
    ///
    /// # Errors
    /// `AlreadyExists` (`user` for the username, `email` for the email).
    pub async fn create_user(&self, new: NewUser, audit: Audit) -> Result<User> {
        write_op!(self, |c| {
            let at = now();
            let on_conflict = conflict(user_conflict(new.username.clone(), new.email.clone()));
            let row: UserRecord = diesel::insert_into(users::table)
                .values(NewUserRow {
                    user_id: uuid::Uuid::now_v7().to_string(),
                    username: new.username,
                    email: new.email,
                    password_hash: new.password_hash,
                    scopes: new.scopes.to_string(),
                    is_active: true,
                    is_verified: new.is_verified,
                    created_at: at,
                    updated_at: at,
                    last_login_at: None,
                    password_changed_at: at,
                })
                .returning(UserRecord::as_returning())
                .get_result(c)
                .await
                .map_err(on_conflict)?;
            audited(c, row, audit).await
        })
    }

    /// The user named `username` (lower-case), if any.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn user_by_username(&self, username: String) -> Result<Option<UserRecord>> {
        read_op!(self, |c| find_user(c, UserKey::Username(username)).await)
    }

    /// The stored password hash of an existing user chosen by `username` (a name no user has):
    /// the first user whose row id is at least a number derived from the name's SHA-256, below
    /// the highest row id (two index lookups, whatever the table's size). The unknown-user path
    /// of the password grant verifies against it so that its work is of the kind real users'
    /// hashes cost ([`crate::passwords::Passwords::verify_unknown_user`]). `None` when there is
    /// no user.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn timing_sample(&self, username: String) -> Result<Option<String>> {
        let digest = sha2::Sha256::digest(username.as_bytes());
        let seed = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
        read_op!(self, |c| {
            let Some(max) = users::table
                .select(diesel::dsl::max(users::id))
                .first::<Option<i64>>(c)
                .await?
            else {
                return Ok(None);
            };
            let start = (seed % max.max(1) as u64) as i64 + 1;
            let at_or_after = users::table
                .filter(users::id.ge(start))
                .order(users::id.asc())
                .select(users::password_hash)
                .first::<String>(c)
                .await
                .optional()?;
            match at_or_after {
                Some(h) => Ok(Some(h)),
                None => Ok(users::table
                    .order(users::id.asc())
                    .select(users::password_hash)
                    .first::<String>(c)
                    .await
                    .optional()?),
            }
        })
    }

    /// The user with public id `user_id`, if any.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn user_by_id(&self, user_id: String) -> Result<Option<UserRecord>> {
        read_op!(self, |c| find_user(c, UserKey::PublicId(user_id)).await)
    }

    /// Users in creation order, `page_size` after row `after_id`, with the total count.
    /// Returns the page, the row id to continue after (when more follow) and the total.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn list_users(
        &self,
        page_size: i64,
        after_id: Option<i64>,
    ) -> Result<(Vec<User>, Option<i64>, i64)> {
        read_op!(self, |c| {
            let mut q = users::table
                .select(UserRecord::as_select())
                .order(users::id.asc())
                .limit(page_size + 1)
                .into_boxed();
            if let Some(after) = after_id {
                q = q.filter(users::id.gt(after));
            }
            let mut rows: Vec<UserRecord> = q.load(c).await?;
            let total: i64 = users::table.count().get_result(c).await?;
            let next = db_core::page::cut_page(&mut rows, page_size, |r| r.id);
            Ok((rows.iter().map(UserRecord::to_user).collect(), next, total))
        })
    }

    /// Applies `update` to user `user_id` and writes `audit`.
    ///
    /// # Errors
    /// `NotFound`; `AlreadyExists` (`email`) when the new email is taken.
    pub async fn update_user(
        &self,
        user_id: String,
        update: UserUpdate,
        audit: Audit,
    ) -> Result<User> {
        write_op!(self, |c| {
            let at = now();
            let row = find_user(c, UserKey::PublicId(user_id.clone()))
                .await?
                .ok_or_else(|| Error::not_found("user", &user_id))?;
            let email = update.email.clone().unwrap_or(row.email.clone());
            let scopes = update
                .scopes
                .as_ref()
                .map_or(row.scopes.clone(), ToString::to_string);
            let verified = update.is_verified.unwrap_or(row.is_verified);
            let on_conflict = conflict(user_conflict(row.username.clone(), email.clone()));
            let row: UserRecord = diesel::update(users::table.find(row.id))
                .set((
                    users::email.eq(email),
                    users::scopes.eq(scopes),
                    users::is_verified.eq(verified),
                    users::updated_at.eq(at),
                ))
                .returning(UserRecord::as_returning())
                .get_result(c)
                .await
                .map_err(on_conflict)?;
            audited(c, row, audit).await
        })
    }

    /// Stores a new password hash for user row `id`, revokes every refresh token of the user
    /// (all sessions end) and writes `audit`. Returns how many tokens were revoked.
    ///
    /// # Errors
    /// `NotFound` when the user vanished.
    pub async fn set_password(&self, id: i64, password_hash: String, audit: Audit) -> Result<i64> {
        write_op!(self, |c| {
            let at = now();
            let n = diesel::update(users::table.find(id))
                .set((
                    users::password_hash.eq(password_hash),
                    users::password_changed_at.eq(at),
                    users::updated_at.eq(at),
                ))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Error::not_found("user", id.to_string()));
            }
            let revoked = revoke_tokens_of(c, id, at, "password_changed").await?;
            audit!(c, audit.detail("revoked_refresh_tokens", revoked));
            Ok(revoked as i64)
        })
    }

    /// Replaces the hash of user row `id` when it still equals `old_hash` (login rehash to the
    /// current parameters; a concurrent password change wins).
    ///
    /// # Errors
    /// Database errors only.
    pub async fn rehash_password(&self, id: i64, old_hash: String, new_hash: String) -> Result<()> {
        write_op!(self, |c| {
            diesel::update(
                users::table
                    .find(id)
                    .filter(users::password_hash.eq(old_hash)),
            )
            .set(users::password_hash.eq(new_hash))
            .execute(c)
            .await?;
            Ok(())
        })
    }

    /// Enables or disables user `user_id`; disabling revokes its refresh tokens. Writes `audit`.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn set_user_active(
        &self,
        user_id: String,
        active: bool,
        audit: Audit,
    ) -> Result<User> {
        write_op!(self, |c| {
            let at = now();
            let row: UserRecord = diesel::update(users::table.filter(users::user_id.eq(&user_id)))
                .set((users::is_active.eq(active), users::updated_at.eq(at)))
                .returning(UserRecord::as_returning())
                .get_result(c)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found("user", &user_id))?;
            let mut revoked = 0;
            if !active {
                revoked = revoke_tokens_of(c, row.id, at, "user_disabled").await?;
            }
            let audit = audit.detail("revoked_refresh_tokens", revoked);
            audited(c, row, audit).await
        })
    }

    /// Deletes user `user_id` (its refresh tokens cascade; audit entries keep the username)
    /// and writes `audit`.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete_user(&self, user_id: String, audit: Audit) -> Result<()> {
        write_op!(self, |c| {
            let n = diesel::delete(users::table.filter(users::user_id.eq(&user_id)))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Error::not_found("user", &user_id));
            }
            audit!(c, audit);
            Ok(())
        })
    }

    /// Records a successful login of user row `id` and writes `audit`.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn record_login(&self, id: i64, audit: Audit) -> Result<()> {
        write_op!(self, |c| {
            diesel::update(users::table.find(id))
                .set(users::last_login_at.eq(now()))
                .execute(c)
                .await?;
            audit!(c, audit);
            Ok(())
        })
    }

    /// Number of users (seeding decides whether this is a first start).
    ///
    /// # Errors
    /// Database errors only.
    pub async fn count_users(&self) -> Result<i64> {
        read_op!(self, |c| Ok(users::table.count().get_result(c).await?))
    }
}
