//! OAuth 2.0 clients.

use super::{Store, conflict};
use crate::error::{Error, Result};
use crate::model::{Audit, Client, ClientUpdate, GrantType, NewClient, Scopes};
use crate::schema::{login_attempts, oauth_clients};
use chrono::NaiveDateTime;
use db_core::timestamp::{now, utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// A client with its secret hash (token logic only).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_clients)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct ClientRecord {
    /// Internal row id.
    pub id: i64,
    /// Public client identifier.
    pub client_id: String,
    /// Stored secret: `$sha256$<hex>` ([`crate::client_secrets`]) or a PHC/bcrypt password
    /// hash; `None` for public clients.
    pub client_secret_hash: Option<String>,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Confidential flag.
    pub is_confidential: bool,
    /// Space-separated scopes.
    pub allowed_scopes: String,
    /// Space-separated grant types.
    pub allowed_grant_types: String,
    /// Seconds.
    pub access_token_lifetime_secs: i64,
    /// Seconds.
    pub refresh_token_lifetime_secs: i64,
    /// Active flag.
    pub is_active: bool,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

impl ClientRecord {
    /// The administrator-visible client.
    pub fn to_client(&self) -> Client {
        Client {
            client_id: self.client_id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            is_confidential: self.is_confidential,
            allowed_scopes: Scopes::from_stored(&self.allowed_scopes),
            allowed_grant_types: GrantType::parse_list(&self.allowed_grant_types),
            access_token_lifetime_secs: self.access_token_lifetime_secs,
            refresh_token_lifetime_secs: self.refresh_token_lifetime_secs,
            is_active: self.is_active,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        }
    }

    /// Whether the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        GrantType::parse_list(&self.allowed_grant_types).contains(&grant)
    }
}

#[derive(Insertable)]
#[diesel(table_name = oauth_clients)]
#[diesel(treat_none_as_default_value = false)]
struct NewClientRow {
    client_id: String,
    client_secret_hash: Option<String>,
    name: String,
    description: String,
    is_confidential: bool,
    allowed_scopes: String,
    allowed_grant_types: String,
    access_token_lifetime_secs: i64,
    refresh_token_lifetime_secs: i64,
    is_active: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(AsChangeset)]
#[diesel(table_name = oauth_clients)]
struct ClientChanges {
    name: Option<String>,
    description: Option<String>,
    allowed_scopes: Option<String>,
    allowed_grant_types: Option<String>,
    access_token_lifetime_secs: Option<i64>,
    refresh_token_lifetime_secs: Option<i64>,
    is_active: Option<bool>,
    client_secret_hash: Option<String>,
    updated_at: NaiveDateTime,
}

impl Store {
    /// Creates a client and writes `audit`.
    ///
    /// # Errors
    /// `AlreadyExists` (`client`).
    pub async fn create_client(&self, new: NewClient, audit: Audit) -> Result<Client> {
        write_op!(self, |c| {
            let at = now();
            let id = new.client_id.clone();
            let row: ClientRecord = diesel::insert_into(oauth_clients::table)
                .values(NewClientRow {
                    client_id: new.client_id,
                    is_confidential: new.secret_hash.is_some(),
                    client_secret_hash: new.secret_hash,
                    name: new.name,
                    description: new.description,
                    allowed_scopes: new.allowed_scopes.to_string(),
                    allowed_grant_types: GrantType::join(&new.allowed_grant_types),
                    access_token_lifetime_secs: new.access_token_lifetime_secs,
                    refresh_token_lifetime_secs: new.refresh_token_lifetime_secs,
                    is_active: true,
                    created_at: at,
                    updated_at: at,
                })
                .returning(ClientRecord::as_returning())
                .get_result(c)
                .await
                .map_err(conflict(move |_| ("client", id.clone())))?;
            audit!(c, audit);
            Ok(row.to_client())
        })
    }

    /// The client `client_id`, if any.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn client(&self, client_id: String) -> Result<Option<ClientRecord>> {
        read_op!(self, |c| {
            Ok(oauth_clients::table
                .filter(oauth_clients::client_id.eq(client_id))
                .select(ClientRecord::as_select())
                .first(c)
                .await
                .optional()?)
        })
    }

    /// Clients in creation order, `page_size` after row `after_id`, with the total count.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn list_clients(
        &self,
        page_size: i64,
        after_id: Option<i64>,
    ) -> Result<(Vec<Client>, Option<i64>, i64)> {
        read_op!(self, |c| {
            let mut q = oauth_clients::table
                .select(ClientRecord::as_select())
                .order(oauth_clients::id.asc())
                .limit(page_size + 1)
                .into_boxed();
            if let Some(after) = after_id {
                q = q.filter(oauth_clients::id.gt(after));
            }
            let mut rows: Vec<ClientRecord> = q.load(c).await?;
            let total: i64 = oauth_clients::table.count().get_result(c).await?;
            let next = db_core::page::cut_page(&mut rows, page_size, |r| r.id);
            Ok((
                rows.iter().map(ClientRecord::to_client).collect(),
                next,
                total,
            ))
        })
    }

    /// Applies `update` to client `client_id` and writes `audit`. A new secret also ends the
    /// client's lockout (`client:<client_id>`): the guesses were at the old one.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn update_client(
        &self,
        client_id: String,
        update: ClientUpdate,
        audit: Audit,
    ) -> Result<Client> {
        write_op!(self, |c| {
            if update.secret_hash.is_some() {
                diesel::delete(login_attempts::table.find(format!("client:{client_id}")))
                    .execute(c)
                    .await?;
            }
            let changes = ClientChanges {
                name: update.name,
                description: update.description,
                allowed_scopes: update.allowed_scopes.map(|s| s.to_string()),
                allowed_grant_types: update.allowed_grant_types.map(|g| GrantType::join(&g)),
                access_token_lifetime_secs: update.access_token_lifetime_secs,
                refresh_token_lifetime_secs: update.refresh_token_lifetime_secs,
                is_active: update.is_active,
                client_secret_hash: update.secret_hash,
                updated_at: now(),
            };
            let row: ClientRecord = diesel::update(
                oauth_clients::table.filter(oauth_clients::client_id.eq(&client_id)),
            )
            .set(changes)
            .returning(ClientRecord::as_returning())
            .get_result(c)
            .await
            .optional()?
            .ok_or_else(|| Error::not_found("client", &client_id))?;
            audit!(c, audit);
            Ok(row.to_client())
        })
    }

    /// Replaces the stored secret of client `client_id` when it still equals `old` (a secret
    /// upgraded to the current form on use; a concurrent rotation wins).
    ///
    /// # Errors
    /// Database errors only.
    pub async fn rehash_client_secret(
        &self,
        client_id: String,
        old: String,
        new: String,
    ) -> Result<()> {
        write_op!(self, |c| {
            diesel::update(
                oauth_clients::table
                    .filter(oauth_clients::client_id.eq(client_id))
                    .filter(oauth_clients::client_secret_hash.eq(old)),
            )
            .set(oauth_clients::client_secret_hash.eq(new))
            .execute(c)
            .await?;
            Ok(())
        })
    }

    /// Deletes client `client_id` (its refresh tokens cascade) and writes `audit`.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete_client(&self, client_id: String, audit: Audit) -> Result<()> {
        write_op!(self, |c| {
            let n = diesel::delete(
                oauth_clients::table.filter(oauth_clients::client_id.eq(&client_id)),
            )
            .execute(c)
            .await?;
            if n == 0 {
                return Err(Error::not_found("client", &client_id));
            }
            audit!(c, audit);
            Ok(())
        })
    }

    /// The longest access-token lifetime of any client, in seconds (how long a retired signing
    /// key must stay published).
    ///
    /// # Errors
    /// Database errors only.
    pub async fn max_access_token_lifetime(&self) -> Result<i64> {
        read_op!(self, |c| {
            let max: Option<i64> = oauth_clients::table
                .select(diesel::dsl::max(oauth_clients::access_token_lifetime_secs))
                .first(c)
                .await?;
            Ok(max.unwrap_or(0))
        })
    }
}
