//! The token endpoint and its companions: grants (RFC 6749 §4.3, §4.4, §6), revocation
//! (RFC 7009), introspection (RFC 7662), with the lockout and audit rules of this service.
//!
//! Nothing here knows gRPC: the edge converts requests into [`TokenRequest`] and the answers
//! back.

use crate::config::{Config, LockoutSettings};
use crate::error::{Error, OAuthCode, Result};
use crate::keys::{AccessClaims, KeyRing};
use crate::model::{Audit, AuditEvent, GrantType, RequestContext, Scopes};
use crate::passwords::Passwords;
use crate::store::{Attempt, ClientRecord, NewRefreshToken, RefreshOutcome, Store, UserRecord};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use db_core::timestamp::{now, utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Longest accepted username, characters.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest accepted password or client secret, bytes (bounds hashing work per request).
pub const MAX_SECRET_BYTES: usize = 1024;
/// Longest accepted refresh token, bytes (ours are 43).
pub const MAX_REFRESH_TOKEN_BYTES: usize = 512;

/// A token request (RFC 6749 §4.3.2, §4.4.2, §6), as received.
#[derive(Debug, Default)]
pub struct TokenRequest {
    /// `password`, `refresh_token` or `client_credentials`.
    pub grant_type: String,
    /// Client identifier.
    pub client_id: String,
    /// Client secret (confidential clients).
    pub client_secret: SecretString,
    /// Password grant.
    pub username: String,
    /// Password grant.
    pub password: SecretString,
    /// Refresh grant.
    pub refresh_token: SecretString,
    /// Space-separated requested scopes.
    pub scope: String,
}

/// What a successful grant returns (RFC 6749 §5.1).
#[derive(Debug)]
pub struct IssuedTokens {
    /// Signed JWT.
    pub access_token: String,
    /// Access-token lifetime, seconds.
    pub expires_in: i64,
    /// Opaque refresh token (not for client_credentials, nor for clients without the
    /// refresh_token grant).
    pub refresh_token: Option<String>,
    /// Scopes granted.
    pub scope: Scopes,
}

/// RFC 7662 §2.2 answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Introspection {
    /// Whether the token is currently usable.
    pub active: bool,
    /// User id, or client id for client_credentials tokens.
    pub sub: String,
    /// Username.
    pub username: String,
    /// Client.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// `access_token` or `refresh_token`.
    pub token_type: String,
}

/// The authenticated caller of an RPC (from its access token).
#[derive(Debug, Clone)]
pub struct Caller {
    /// `sub` claim.
    pub sub: String,
    /// Username, for user tokens.
    pub username: Option<String>,
    /// Client the token was issued to.
    pub client_id: String,
    /// Scopes of the token.
    pub scopes: Scopes,
}

impl Caller {
    /// Whether the token carries `api:admin`.
    pub fn is_admin(&self) -> bool {
        self.scopes.contains(access_token::Scope::Admin.as_str())
    }

    /// Who, for audit details: the username, else the client.
    pub fn name(&self) -> String {
        self.username
            .clone()
            .unwrap_or_else(|| format!("client:{}", self.client_id))
    }
}

/// Token issuing and checking. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OAuth {
    store: Store,
    keys: KeyRing,
    passwords: Passwords,
    lockout: LockoutSettings,
    refresh_grace_secs: i64,
}

/// Hex sha256 of a token or secret value: what the database stores of refresh tokens.
pub fn sha256_hex(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new opaque token: 32 random bytes, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl OAuth {
    /// Token logic over `store`, `keys` and `passwords` with `config`'s lockout and grace.
    pub fn new(store: Store, keys: KeyRing, passwords: Passwords, config: &Config) -> OAuth {
        OAuth {
            store,
            keys,
            passwords,
            lockout: config.lockout.clone(),
            refresh_grace_secs: config.refresh_grace_secs,
        }
    }

    /// The signing keys.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Runs the grant named in `request`.
    ///
    /// # Errors
    /// [`Error::OAuth`] with the RFC 6749 §5.2 code; [`Error::Locked`] while the username or
    /// address is locked out; `Unavailable`/`Internal` for outages.
    pub async fn token(
        &self,
        request: TokenRequest,
        context: &RequestContext,
    ) -> Result<IssuedTokens> {
        let grant = match request.grant_type.as_str() {
            "" => return Err(Error::oauth(OAuthCode::InvalidRequest, "grant_type is required")),
            g => GrantType::parse(g).ok_or_else(|| {
                Error::oauth(
                    OAuthCode::UnsupportedGrantType,
                    format!(
                        "grant_type `{}` is not supported; use password, refresh_token or client_credentials",
                        g.chars().take(40).collect::<String>()
                    ),
                )
            })?,
        };
        let requested = Scopes::parse(&request.scope).map_err(|bad| {
            Error::oauth(OAuthCode::InvalidScope, format!("unknown scope `{bad}`"))
        })?;
        if request.client_id.is_empty() {
            return Err(Error::oauth(
                OAuthCode::InvalidRequest,
                "client_id is required",
            ));
        }
        if request.client_id.len() > 64
            || request.client_secret.expose_secret().len() > MAX_SECRET_BYTES
        {
            return Err(Error::oauth(
                OAuthCode::InvalidClient,
                "client authentication failed",
            ));
        }
        match grant {
            GrantType::Password => self.password_grant(request, requested, context).await,
            GrantType::RefreshToken => self.refresh_grant(request, requested, context).await,
            GrantType::ClientCredentials => {
                self.client_credentials_grant(request, requested, context)
                    .await
            }
        }
    }

    /// Authenticates the client (RFC 6749 §2.3) and checks it may use `grant`.
    ///
    /// A presented secret is counted like a password guess (OWASP Authentication Cheat Sheet,
    /// "Account lockout"): before it is checked, the attempt reserves a slot on
    /// `client:<client_id>` (limit `max_failures_per_user`) and on the address (`ip:…`,
    /// shared with logins); a wrong secret, or a secret for an unknown client, counts as a
    /// failure and locks the key at the limit; a locked client is refused without checking
    /// anything, until the lockout ends or its secret is rotated. Secrets in the SHA-256 form
    /// cost no hashing ([`crate::client_secrets`]); an older argon2 hash of a long secret is
    /// replaced by that form on a successful check.
    async fn client(
        &self,
        client_id: &str,
        secret: &SecretString,
        grant: GrantType,
        context: &RequestContext,
    ) -> Result<ClientRecord> {
        let failed = || Error::oauth(OAuthCode::InvalidClient, "client authentication failed");
        let presented = !secret.expose_secret().is_empty();
        let client = self.store.client(client_id.to_owned()).await?;
        let stored = client.as_ref().and_then(|c| c.client_secret_hash.clone());
        if presented && (client.is_none() || stored.is_some()) {
            let verified = self
                .counted_client_secret(client_id, secret, stored.as_deref(), context)
                .await?;
            if let (Some(client), Some(stored)) = (&client, &stored)
                && verified.needs_rehash
            {
                let new = self.passwords.hash_client_secret(secret).await?;
                self.store
                    .rehash_client_secret(client.client_id.clone(), stored.clone(), new)
                    .await?;
            }
        }
        let Some(client) = client else {
            return Err(failed());
        };
        if stored.is_some() && !presented {
            return Err(failed());
        }
        if !client.is_active {
            return Err(failed());
        }
        if !client.allows(grant) {
            return Err(Error::oauth(
                OAuthCode::UnauthorizedClient,
                format!("client may not use the {} grant", grant.as_str()),
            ));
        }
        Ok(client)
    }

    /// Checks a presented client secret against `stored` (`None`: unknown client, never
    /// matches) under the client and address lockout; `Ok` only when it matches.
    async fn counted_client_secret(
        &self,
        client_id: &str,
        secret: &SecretString,
        stored: Option<&str>,
        context: &RequestContext,
    ) -> Result<crate::passwords::Verified> {
        let client_key = format!("client:{client_id}");
        let ip_key = context.ip.as_ref().map(|ip| format!("ip:{ip}"));
        let mut keys = vec![client_key.clone()];
        keys.extend(ip_key.clone());
        let attempts = self
            .store
            .reserve_attempts(keys, self.lockout.window_secs)
            .await?;
        let limits = [
            self.lockout.max_failures_per_user,
            self.lockout.max_failures_per_ip,
        ];
        // As for logins: the address first, then the client; a refusal without a check gives
        // the other key its slot back (it was not a guess at it).
        if let (Some(key), Some(attempt)) = (&ip_key, attempts.get(1))
            && let Err(locked) = self.check_lock(key, *attempt, limits[1], "", context).await
        {
            self.store.release_attempt(client_key).await?;
            return Err(locked);
        }
        if let Err(locked) = self
            .check_lock(&client_key, attempts[0], limits[0], "", context)
            .await
        {
            if let Some(key) = &ip_key {
                self.store.release_attempt(key.clone()).await?;
            }
            return Err(locked);
        }
        let verified = match stored {
            Some(stored) => self.passwords.verify_client_secret(secret, stored).await?,
            None => crate::passwords::Verified {
                ok: false,
                needs_rehash: false,
            },
        };
        if verified.ok {
            self.store
                .settle_attempts(vec![client_key], ip_key.into_iter().collect())
                .await?;
            return Ok(verified);
        }
        let reason = if stored.is_some() {
            "wrong client secret"
        } else {
            "unknown client"
        };
        self.store
            .record_audit(
                Audit::new(AuditEvent::ClientAuthFailed, false, context)
                    .client(client_id.chars().take(64).collect::<String>())
                    .detail("reason", reason),
            )
            .await?;
        if attempts[0].failures >= limits[0] {
            self.lock(&client_key, "", context).await?;
        }
        if let (Some(key), Some(attempt)) = (&ip_key, attempts.get(1))
            && attempt.failures >= limits[1]
        {
            self.lock(key, "", context).await?;
        }
        Err(Error::oauth(
            OAuthCode::InvalidClient,
            "client authentication failed",
        ))
    }

    async fn password_grant(
        &self,
        request: TokenRequest,
        requested: Scopes,
        context: &RequestContext,
    ) -> Result<IssuedTokens> {
        let username = request.username.trim().to_lowercase();
        if username.is_empty() || request.password.expose_secret().is_empty() {
            return Err(Error::oauth(
                OAuthCode::InvalidRequest,
                "username and password are required",
            ));
        }
        if username.chars().count() > MAX_USERNAME_CHARS
            || request.password.expose_secret().len() > MAX_SECRET_BYTES
        {
            // Longer than any stored username or password could be: cannot match.
            return Err(Error::bad_credentials());
        }
        let client = self
            .client(
                &request.client_id,
                &request.client_secret,
                GrantType::Password,
                context,
            )
            .await?;
        if !requested.is_subset(&client.allowed_scopes_set()) {
            return Err(Error::oauth(
                OAuthCode::InvalidScope,
                "requested scope exceeds what the client may ask for",
            ));
        }

        // Reserve a slot on the address and on the username before any password is checked.
        let ip_key = context.ip.as_ref().map(|ip| format!("ip:{ip}"));
        let mut ip_attempt = None;
        if let Some(key) = &ip_key {
            let attempt = self
                .store
                .reserve_attempt(key.clone(), self.lockout.window_secs)
                .await?;
            self.check_lock(
                key,
                attempt,
                self.lockout.max_failures_per_ip,
                &username,
                context,
            )
            .await?;
            ip_attempt = Some(attempt);
        }
        let user_key = format!("user:{username}");
        let user_attempt = self
            .store
            .reserve_attempt(user_key.clone(), self.lockout.window_secs)
            .await?;
        if let Err(locked) = self
            .check_lock(
                &user_key,
                user_attempt,
                self.lockout.max_failures_per_user,
                &username,
                context,
            )
            .await
        {
            // Refused without a password check: not a guess the address made, so the address
            // gets its slot back (many people behind one NAT retrying a locked account must
            // not lock the address for everyone else).
            if let Some(key) = ip_key {
                self.store.release_attempt(key).await?;
            }
            return Err(locked);
        }

        let user = self.store.user_by_username(username.clone()).await?;
        let (verified, reason) = match &user {
            None => {
                let like = self.store.timing_sample(username.clone()).await?;
                self.passwords
                    .verify_unknown_user(&request.password, like)
                    .await?;
                (None, "unknown user")
            }
            Some(u) => {
                let v = self
                    .passwords
                    .verify(&request.password, &u.password_hash)
                    .await?;
                if !v.ok {
                    (None, "wrong password")
                } else if !u.is_active {
                    (None, "user disabled")
                } else {
                    (Some(v), "")
                }
            }
        };
        let (Some(verified), Some(user)) = (verified, user.clone()) else {
            let audit = Audit::new(AuditEvent::LoginFailed, false, context)
                .user(user.as_ref().map(|u| u.id), username.clone())
                .client(client.client_id.clone())
                .detail("reason", reason);
            self.store.record_audit(audit).await?;
            if user_attempt.failures >= self.lockout.max_failures_per_user {
                self.lock(&user_key, &username, context).await?;
            }
            if let (Some(key), Some(attempt)) = (&ip_key, ip_attempt)
                && attempt.failures >= self.lockout.max_failures_per_ip
            {
                self.lock(key, &username, context).await?;
            }
            return Err(Error::bad_credentials());
        };

        // Success: the username's count starts again, the address gets its slot back.
        self.store.clear_attempts(user_key).await?;
        if let Some(key) = ip_key {
            self.store.release_attempt(key).await?;
        }
        let scope = grantable(&requested, &client, &user)?;
        let refresh = client.allows(GrantType::RefreshToken).then(random_token);
        let audit = Audit::new(AuditEvent::LoginSuccess, true, context)
            .user(Some(user.id), user.username.clone())
            .client(client.client_id.clone())
            .detail("scope", scope.to_string());
        // Re-checks, under the user's row lock, that the user is still active and still has
        // the hash just verified: a disable or password change committed meanwhile wins.
        self.store
            .complete_login(
                user.id,
                user.password_hash.clone(),
                refresh.as_ref().map(|t| NewRefreshToken {
                    token_hash: sha256_hex(t),
                    user_id: user.id,
                    client_id: client.client_id.clone(),
                    scope: scope.clone(),
                    lifetime_secs: client.refresh_token_lifetime_secs,
                }),
                audit,
            )
            .await?;
        if verified.needs_rehash {
            self.spawn_rehash(&user, &request.password);
        }
        self.issue(Some(&user), &client, scope, refresh)
    }

    /// Refuses an attempt whose key is locked or over `limit` (its slot stays counted).
    async fn check_lock(
        &self,
        key: &str,
        attempt: Attempt,
        limit: i32,
        username: &str,
        context: &RequestContext,
    ) -> Result<()> {
        let at = now();
        if let Some(until) = attempt.locked_until
            && until > at
        {
            let left = (until - at).num_milliseconds().max(1000) as u64;
            return Err(Error::Locked {
                retry_after: Duration::from_millis(left),
            });
        }
        if attempt.failures > limit {
            // The limit-th failure locks the key; this attempt came in while that one was
            // still being checked, or after a lock that ended without a reset.
            self.lock(key, username, context).await?;
            return Err(Error::Locked {
                retry_after: Duration::from_secs(self.lockout.lockout_secs as u64),
            });
        }
        Ok(())
    }

    async fn lock(&self, key: &str, username: &str, context: &RequestContext) -> Result<()> {
        let until = now() + chrono::Duration::seconds(self.lockout.lockout_secs);
        let audit = Audit::new(AuditEvent::Lockout, false, context)
            .detail("key", key.split(':').next().unwrap_or(""))
            .detail("lockout_secs", self.lockout.lockout_secs);
        let audit = match key.strip_prefix("client:") {
            Some(client) => audit.client(client.to_owned()),
            None => audit.user(None, username.to_owned()),
        };
        tracing::warn!(kind = key.split(':').next().unwrap_or(""), "login lockout");
        self.store.lock_attempts(key.to_owned(), until, audit).await
    }

    /// Checks `current`, the password a user gives to change their own (UserService
    /// ChangePassword), under the same username lockout as the password grant (OWASP
    /// Authentication Cheat Sheet, "Change password feature": re-authenticate; "Account
    /// lockout"): the attempt reserves a slot on `user:<username>` first, a wrong password
    /// counts as a failure, is audited (`password_change_failed`) and locks the username at
    /// the limit; a right one resets the count as a login does.
    ///
    /// # Errors
    /// [`Error::Locked`] while the username is locked out; `InvalidArgument` naming
    /// `current_password` when it does not match; database errors.
    pub async fn check_current_password(
        &self,
        user: &UserRecord,
        current: &SecretString,
        context: &RequestContext,
    ) -> Result<()> {
        let username = user.username.to_lowercase();
        let key = format!("user:{username}");
        let attempt = self
            .store
            .reserve_attempt(key.clone(), self.lockout.window_secs)
            .await?;
        let failed = |reason: &str| {
            Audit::new(AuditEvent::PasswordChangeFailed, false, context)
                .user(Some(user.id), user.username.clone())
                .detail("reason", reason)
        };
        if let Err(locked) = self
            .check_lock(
                &key,
                attempt,
                self.lockout.max_failures_per_user,
                &username,
                context,
            )
            .await
        {
            self.store.record_audit(failed("locked out")).await?;
            return Err(locked);
        }
        if current.expose_secret().len() > MAX_SECRET_BYTES
            || !self
                .passwords
                .verify(current, &user.password_hash)
                .await?
                .ok
        {
            self.store
                .record_audit(failed("wrong current password"))
                .await?;
            if attempt.failures >= self.lockout.max_failures_per_user {
                self.lock(&key, &username, context).await?;
            }
            return Err(Error::invalid("current_password", "does not match"));
        }
        self.store.clear_attempts(key).await
    }

    fn spawn_rehash(&self, user: &UserRecord, password: &SecretString) {
        let (store, passwords) = (self.store.clone(), self.passwords.clone());
        let (id, old) = (user.id, user.password_hash.clone());
        let password = SecretString::from(password.expose_secret().to_owned());
        tokio::spawn(async move {
            match passwords.hash(&password).await {
                Ok(new) => {
                    if let Err(e) = store.rehash_password(id, old, new).await {
                        tracing::warn!(error = %e, "storing a rehashed password failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "rehashing a password failed"),
            }
        });
    }

    async fn refresh_grant(
        &self,
        request: TokenRequest,
        requested: Scopes,
        context: &RequestContext,
    ) -> Result<IssuedTokens> {
        let presented = request.refresh_token.expose_secret();
        if presented.is_empty() {
            return Err(Error::oauth(
                OAuthCode::InvalidRequest,
                "refresh_token is required",
            ));
        }
        if presented.len() > MAX_REFRESH_TOKEN_BYTES {
            return Err(Error::oauth(
                OAuthCode::InvalidGrant,
                "invalid refresh token",
            ));
        }
        let client = self
            .client(
                &request.client_id,
                &request.client_secret,
                GrantType::RefreshToken,
                context,
            )
            .await?;
        let outcome = self
            .store
            .rotate_refresh(
                SecretString::from(presented.to_owned()),
                client.client_id.clone(),
                random_token(),
                (!requested.is_empty()).then(|| requested.clone()),
                self.refresh_grace_secs,
                context.clone(),
            )
            .await?;
        match outcome {
            RefreshOutcome::Rotated {
                refresh_token,
                user,
                client,
                scope,
            } => {
                let wanted = if requested.is_empty() {
                    scope
                } else {
                    requested
                };
                let scope = wanted
                    .intersection(&Scopes::from_stored(&user.scopes))
                    .intersection(&client.allowed_scopes_set());
                if scope.is_empty() {
                    return Err(Error::oauth(
                        OAuthCode::InvalidScope,
                        "none of the refresh token's scopes is still granted",
                    ));
                }
                self.issue(Some(&user), &client, scope, Some(refresh_token))
            }
            RefreshOutcome::ScopeExceeded => Err(Error::oauth(
                OAuthCode::InvalidScope,
                "requested scope exceeds the refresh token's",
            )),
            RefreshOutcome::Invalid(reason) => {
                tracing::info!(reason, "refresh refused");
                Err(Error::oauth(
                    OAuthCode::InvalidGrant,
                    "invalid refresh token",
                ))
            }
            RefreshOutcome::Reuse { family_id, revoked } => {
                tracing::warn!(%family_id, revoked, "refresh token reuse: family revoked");
                Err(Error::oauth(
                    OAuthCode::InvalidGrant,
                    "refresh token was already used; every token of this login is revoked",
                ))
            }
        }
    }

    async fn client_credentials_grant(
        &self,
        request: TokenRequest,
        requested: Scopes,
        context: &RequestContext,
    ) -> Result<IssuedTokens> {
        let client = self
            .client(
                &request.client_id,
                &request.client_secret,
                GrantType::ClientCredentials,
                context,
            )
            .await?;
        if !client.is_confidential || client.client_secret_hash.is_none() {
            return Err(Error::oauth(
                OAuthCode::UnauthorizedClient,
                "only confidential clients may use client_credentials",
            ));
        }
        let allowed = client.allowed_scopes_set();
        if !requested.is_subset(&allowed) {
            return Err(Error::oauth(
                OAuthCode::InvalidScope,
                "requested scope exceeds what the client may ask for",
            ));
        }
        let scope = if requested.is_empty() {
            allowed
        } else {
            requested
        };
        self.store
            .record_audit(
                Audit::new(AuditEvent::ClientCredentials, true, context)
                    .client(client.client_id.clone())
                    .detail("scope", scope.to_string()),
            )
            .await?;
        self.issue(None, &client, scope, None)
    }

    fn issue(
        &self,
        user: Option<&UserRecord>,
        client: &ClientRecord,
        scope: Scopes,
        refresh_token: Option<String>,
    ) -> Result<IssuedTokens> {
        let iat = chrono::Utc::now().timestamp();
        let lifetime = client.access_token_lifetime_secs;
        let claims = AccessClaims {
            iss: self.keys.issuer().to_owned(),
            sub: user.map_or_else(|| client.client_id.clone(), |u| u.user_id.clone()),
            aud: self.keys.audience().to_owned(),
            exp: iat + lifetime,
            iat,
            nbf: iat,
            jti: uuid::Uuid::now_v7().to_string(),
            client_id: client.client_id.clone(),
            scope: scope.to_string(),
            token_type: "access".to_owned(),
            username: user.map(|u| u.username.clone()),
        };
        Ok(IssuedTokens {
            access_token: self.keys.sign(&claims)?,
            expires_in: lifetime,
            refresh_token,
            scope,
        })
    }

    /// The caller of an RPC from its bearer token: the token must verify, and its user (or
    /// client, for client_credentials tokens) must still exist and be active.
    ///
    /// # Errors
    /// `Unauthenticated`.
    pub async fn caller(&self, token: &str) -> Result<Caller> {
        let claims = self.keys.verify(token).await?;
        let gone = || Error::Unauthenticated {
            reason: "ACCOUNT_DISABLED",
            message: "the token's account is disabled or deleted".to_owned(),
        };
        if claims.username.is_some() {
            match self.store.user_by_id(claims.sub.clone()).await? {
                Some(u) if u.is_active => {}
                _ => return Err(gone()),
            }
        } else {
            match self.store.client(claims.client_id.clone()).await? {
                Some(c) if c.is_active => {}
                _ => return Err(gone()),
            }
        }
        Ok(Caller {
            sub: claims.sub,
            username: claims.username,
            client_id: claims.client_id,
            scopes: Scopes::from_stored(&claims.scope),
        })
    }

    /// RFC 7009: revokes the family of a refresh token. Access tokens are not revocable (they
    /// are short-lived JWTs verified offline); unknown tokens and other users' tokens (unless
    /// the caller has api:admin) are silently ignored, as §2.2 asks.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn revoke(
        &self,
        token: &SecretString,
        caller: &Caller,
        context: &RequestContext,
    ) -> Result<()> {
        let token = token.expose_secret();
        if token.is_empty() || token.len() > MAX_REFRESH_TOKEN_BYTES {
            return Ok(());
        }
        let owner = if caller.is_admin() {
            None
        } else {
            match self.store.user_by_id(caller.sub.clone()).await? {
                Some(u) => Some(u.id),
                None => return Ok(()),
            }
        };
        let audit = Audit::new(AuditEvent::TokenRevoked, true, context).detail("by", caller.name());
        self.store
            .revoke_family(sha256_hex(token), owner, audit)
            .await?;
        Ok(())
    }

    /// RFC 7662: what `token` is, for a caller allowed to know. Callers without api:admin only
    /// learn about their own tokens; everything else is `active: false`.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn introspect(&self, token: &SecretString, caller: &Caller) -> Result<Introspection> {
        let token = token.expose_secret();
        let inactive = Introspection::default();
        if token.is_empty() || token.len() > 16 * 1024 {
            return Ok(inactive);
        }
        if token.split('.').count() == 3 {
            let Ok(claims) = self.keys.verify(token).await else {
                return Ok(inactive);
            };
            if !caller.is_admin() && claims.sub != caller.sub {
                return Ok(inactive);
            }
            let still_active = if claims.username.is_some() {
                self.store
                    .user_by_id(claims.sub.clone())
                    .await?
                    .is_some_and(|u| u.is_active)
            } else {
                self.store
                    .client(claims.client_id.clone())
                    .await?
                    .is_some_and(|c| c.is_active)
            };
            if !still_active {
                return Ok(inactive);
            }
            return Ok(Introspection {
                active: true,
                sub: claims.sub,
                username: claims.username.unwrap_or_default(),
                client_id: claims.client_id,
                scope: claims.scope,
                exp: claims.exp,
                iat: claims.iat,
                token_type: "access_token".to_owned(),
            });
        }
        if token.len() > MAX_REFRESH_TOKEN_BYTES {
            return Ok(inactive);
        }
        let Some((refresh, user)) = self.store.refresh_token(sha256_hex(token)).await? else {
            return Ok(inactive);
        };
        if !caller.is_admin() && user.user_id != caller.sub {
            return Ok(inactive);
        }
        let at = now();
        let rotated_long_ago = refresh
            .rotated_at
            .is_some_and(|r| at - r > chrono::Duration::seconds(self.refresh_grace_secs));
        if refresh.revoked_at.is_some()
            || refresh.expires_at <= at
            || rotated_long_ago
            || !user.is_active
        {
            return Ok(inactive);
        }
        Ok(Introspection {
            active: true,
            sub: user.user_id,
            username: user.username,
            client_id: refresh.client_id,
            scope: refresh.scope,
            exp: utc(refresh.expires_at).timestamp(),
            iat: utc(refresh.created_at).timestamp(),
            token_type: "refresh_token".to_owned(),
        })
    }
}

/// Scopes a password login gets: the requested ones (or all the client may have), narrowed to
/// the user's (RFC 6749 §3.3 lets the server issue fewer than asked).
fn grantable(requested: &Scopes, client: &ClientRecord, user: &UserRecord) -> Result<Scopes> {
    let base = if requested.is_empty() {
        client.allowed_scopes_set()
    } else {
        requested.clone()
    };
    let scope = base.intersection(&Scopes::from_stored(&user.scopes));
    if scope.is_empty() {
        return Err(Error::oauth(
            OAuthCode::InvalidScope,
            "the user holds none of the requested scopes",
        ));
    }
    Ok(scope)
}

impl ClientRecord {
    /// The client's allowed scopes as a set.
    pub fn allowed_scopes_set(&self) -> Scopes {
        Scopes::from_stored(&self.allowed_scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_hex() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
