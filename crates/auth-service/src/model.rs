//! Plain types of auth-service: what the store takes and returns and the grpc edge converts.

use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::fmt;

/// The scopes codelab knows (API.md): reads, writes, administration, and `api:approve`
/// (agent-runtime: resolving a pending approval one's own `sub` requested; give it to people,
/// never to agents).
pub const KNOWN_SCOPES: [&str; 4] = access_token::Scope::NAMES;

/// Scopes a new user or client gets when none are given.
pub const DEFAULT_SCOPES: &str = "api:read api:write";

/// A set of scopes (RFC 6749 §3.3), printed space-separated in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses a space-separated list of [`KNOWN_SCOPES`]. Duplicates are merged.
    ///
    /// # Errors
    /// The first unknown scope.
    pub fn parse(s: &str) -> Result<Scopes, String> {
        let mut set = BTreeSet::new();
        for scope in s.split_whitespace() {
            if !KNOWN_SCOPES.contains(&scope) {
                return Err(scope.chars().take(64).collect());
            }
            set.insert(scope.to_owned());
        }
        Ok(Scopes(set))
    }

    /// Parses a list stored by this service; unknown entries (none are expected) are dropped.
    pub fn from_stored(s: &str) -> Scopes {
        Scopes(
            s.split_whitespace()
                .filter(|s| KNOWN_SCOPES.contains(s))
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes in both sets.
    pub fn intersection(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.intersection(&other.0).cloned().collect())
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        // api:admin, api:read, api:write: BTreeSet order, stable across calls.
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

/// OAuth 2.0 grant types this service implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantType {
    /// Resource owner password credentials (RFC 6749 §4.3).
    Password,
    /// Refreshing an access token (RFC 6749 §6).
    RefreshToken,
    /// Client credentials (RFC 6749 §4.4).
    ClientCredentials,
}

impl GrantType {
    /// Every grant type.
    pub const ALL: [GrantType; 3] = [
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];

    /// The RFC spelling, e.g. `refresh_token`.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    /// Parses the RFC spelling.
    pub fn parse(s: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// Parses a stored space-separated list, dropping unknown entries.
    pub fn parse_list(s: &str) -> Vec<GrantType> {
        let mut list: Vec<GrantType> = s.split_whitespace().filter_map(GrantType::parse).collect();
        list.sort();
        list.dedup();
        list
    }

    /// A list as stored: space-separated RFC spellings.
    pub fn join(list: &[GrantType]) -> String {
        list.iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A user account as clients see it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Public id (UUIDv7).
    pub user_id: String,
    /// Lower-case username.
    pub username: String,
    /// Lower-case email, if given.
    pub email: Option<String>,
    /// Disabled accounts cannot log in or refresh.
    pub is_active: bool,
    /// Email verified (set by an administrator).
    pub is_verified: bool,
    /// Scopes this user may be granted.
    pub scopes: Scopes,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last successful password login.
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A new user, validated by the edge; `password_hash` is a PHC string.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Lower-case username.
    pub username: String,
    /// Lower-case email.
    pub email: Option<String>,
    /// PHC string of the password.
    pub password_hash: String,
    /// Scopes.
    pub scopes: Scopes,
    /// Verified from the start (seeded administrator).
    pub is_verified: bool,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New email; `Some(None)` removes it.
    pub email: Option<Option<String>>,
    /// New scopes.
    pub scopes: Option<Scopes>,
    /// New verification flag.
    pub is_verified: Option<bool>,
}

/// An OAuth 2.0 client as administrators see it (never the secret hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Public client identifier (RFC 6749 §2.2).
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Authenticates with a secret (RFC 6749 §2.1).
    pub is_confidential: bool,
    /// Scopes the client may request.
    pub allowed_scopes: Scopes,
    /// Grants the client may use.
    pub allowed_grant_types: Vec<GrantType>,
    /// Access-token lifetime, seconds.
    pub access_token_lifetime_secs: i64,
    /// Absolute lifetime of a refresh-token family, seconds.
    pub refresh_token_lifetime_secs: i64,
    /// Inactive clients cannot obtain tokens.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A new client, validated by the edge.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// Client identifier.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// PHC string of the secret, for confidential clients.
    pub secret_hash: Option<String>,
    /// Allowed scopes.
    pub allowed_scopes: Scopes,
    /// Allowed grants.
    pub allowed_grant_types: Vec<GrantType>,
    /// Access-token lifetime, seconds.
    pub access_token_lifetime_secs: i64,
    /// Refresh-family lifetime, seconds.
    pub refresh_token_lifetime_secs: i64,
}

/// Changes to a client; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    /// Display name.
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Allowed scopes.
    pub allowed_scopes: Option<Scopes>,
    /// Allowed grants.
    pub allowed_grant_types: Option<Vec<GrantType>>,
    /// Access-token lifetime, seconds.
    pub access_token_lifetime_secs: Option<i64>,
    /// Refresh-family lifetime, seconds.
    pub refresh_token_lifetime_secs: Option<i64>,
    /// Active flag.
    pub is_active: Option<bool>,
    /// New secret hash (secret rotation).
    pub secret_hash: Option<String>,
}

/// Where a request came from, for the lockout and the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// Client address: the peer address, or behind trusted proxies their `x-forwarded-for`
    /// entry.
    pub ip: Option<String>,
    /// `user-agent` metadata, at most 255 characters.
    pub user_agent: Option<String>,
}

/// Kinds of audit events (`audit_logs.event_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    /// Password grant succeeded.
    LoginSuccess,
    /// Password grant failed (wrong password, unknown or disabled user).
    LoginFailed,
    /// A client failed to authenticate (wrong secret, or a secret for an unknown client).
    ClientAuthFailed,
    /// A username, client or address reached the failure limit.
    Lockout,
    /// A refresh token was rotated.
    TokenRefresh,
    /// A rotated refresh token was presented again after the grace window; its family was
    /// revoked.
    RefreshTokenReuse,
    /// A refresh token family was revoked (RFC 7009).
    TokenRevoked,
    /// Client credentials grant succeeded.
    ClientCredentials,
    /// A user was created.
    UserCreated,
    /// A user was changed.
    UserUpdated,
    /// A password was changed.
    PasswordChanged,
    /// ChangePassword was refused: wrong current password, or its username locked out.
    PasswordChangeFailed,
    /// An administrator ended a username's lockout (UnlockUser).
    UserUnlocked,
    /// A user was disabled or enabled.
    UserDisabled,
    /// A user was enabled again.
    UserEnabled,
    /// A user was deleted.
    UserDeleted,
    /// A client was created.
    ClientCreated,
    /// A client was changed.
    ClientUpdated,
    /// A client was deleted.
    ClientDeleted,
    /// A new signing key was made current.
    SigningKeyRotated,
}

impl AuditEvent {
    /// The stored spelling, e.g. `login_failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::LoginSuccess => "login_success",
            AuditEvent::LoginFailed => "login_failed",
            AuditEvent::ClientAuthFailed => "client_auth_failed",
            AuditEvent::Lockout => "lockout",
            AuditEvent::TokenRefresh => "token_refresh",
            AuditEvent::RefreshTokenReuse => "refresh_token_reuse",
            AuditEvent::TokenRevoked => "token_revoked",
            AuditEvent::ClientCredentials => "client_credentials",
            AuditEvent::UserCreated => "user_created",
            AuditEvent::UserUpdated => "user_updated",
            AuditEvent::PasswordChanged => "password_changed",
            AuditEvent::PasswordChangeFailed => "password_change_failed",
            AuditEvent::UserUnlocked => "user_unlocked",
            AuditEvent::UserDisabled => "user_disabled",
            AuditEvent::UserEnabled => "user_enabled",
            AuditEvent::UserDeleted => "user_deleted",
            AuditEvent::ClientCreated => "client_created",
            AuditEvent::ClientUpdated => "client_updated",
            AuditEvent::ClientDeleted => "client_deleted",
            AuditEvent::SigningKeyRotated => "signing_key_rotated",
        }
    }
}

/// One audit-log entry to write.
#[derive(Debug, Clone)]
pub struct Audit {
    /// What happened.
    pub event: AuditEvent,
    /// Whether the action succeeded.
    pub success: bool,
    /// Internal id of the user concerned, if known.
    pub user_db_id: Option<i64>,
    /// Username concerned (as typed for failed logins, at most 64 characters).
    pub username: Option<String>,
    /// Client concerned.
    pub client_id: Option<String>,
    /// Request origin.
    pub context: RequestContext,
    /// Extra facts as a JSON object (never secrets).
    pub details: serde_json::Value,
}

impl Audit {
    /// An entry with no user, client or details.
    pub fn new(event: AuditEvent, success: bool, context: &RequestContext) -> Audit {
        Audit {
            event,
            success,
            user_db_id: None,
            username: None,
            client_id: None,
            context: context.clone(),
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the user.
    pub fn user(mut self, db_id: Option<i64>, username: impl Into<String>) -> Audit {
        self.user_db_id = db_id;
        self.username = Some(username.into().chars().take(64).collect());
        self
    }

    /// Sets the client.
    pub fn client(mut self, client_id: impl Into<String>) -> Audit {
        self.client_id = Some(client_id.into().chars().take(64).collect());
        self
    }

    /// Adds one detail.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Audit {
        if let serde_json::Value::Object(map) = &mut self.details {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print_stably() {
        let s = Scopes::parse("api:write  api:read api:write").unwrap();
        assert_eq!(s.to_string(), "api:read api:write");
        assert_eq!(Scopes::parse("api:read openid").unwrap_err(), "openid");
        let admin = Scopes::parse("api:admin api:read api:write").unwrap();
        assert!(s.is_subset(&admin));
        assert!(!admin.is_subset(&s));
        assert_eq!(admin.intersection(&s), s);
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    #[test]
    fn grant_types_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::parse("implicit"), None);
        let list = GrantType::parse_list("refresh_token password password bogus");
        assert_eq!(list, vec![GrantType::Password, GrantType::RefreshToken]);
        assert_eq!(GrantType::join(&list), "password refresh_token");
    }
}
