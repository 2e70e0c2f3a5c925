//! First-start data (the original service's `seed_default_data`): the `admin` user and the
//! standard clients. Idempotent: existing rows are left as they are, so restarting or several
//! replicas starting together change nothing.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{Audit, AuditEvent, GrantType, NewClient, NewUser, RequestContext, Scopes};
use crate::passwords::Passwords;
use crate::store::Store;
use rand::Rng as _;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};

/// Username of the seeded administrator.
pub const ADMIN_USERNAME: &str = "admin";
/// Public client of the Flutter app (api:read api:write).
pub const FLUTTER_CLIENT_ID: &str = "codelab-flutter-app";
/// Confidential client for services (api:admin api:read api:write, client_credentials).
pub const INTERNAL_CLIENT_ID: &str = "codelab-internal";
/// Public client of the `codelab` CLI (`codelab login`; api:admin for administrators).
pub const CLI_CLIENT_ID: &str = "codelab-cli";

/// Credentials generated during seeding: shown once, never stored in clear.
#[derive(Debug, Default)]
pub struct Generated {
    /// The admin password, when `AUTH_SERVICE__ADMIN_PASSWORD` was not set.
    pub admin_password: Option<SecretString>,
    /// The `codelab-internal` secret, when `AUTH_SERVICE__INTERNAL_CLIENT_SECRET` was not set.
    pub internal_client_secret: Option<SecretString>,
}

fn random_secret(len: usize) -> SecretString {
    SecretString::from(
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(len)
            .map(char::from)
            .collect::<String>(),
    )
}

/// Creates what is missing of: user `admin` (all scopes, password from configuration or
/// random), clients [`FLUTTER_CLIENT_ID`], [`INTERNAL_CLIENT_ID`] and [`CLI_CLIENT_ID`].
/// Returns the credentials it generated.
///
/// # Errors
/// Database errors.
pub async fn seed(store: &Store, passwords: &Passwords, config: &Config) -> Result<Generated> {
    let mut generated = Generated::default();
    let context = RequestContext::default();
    if store
        .user_by_username(ADMIN_USERNAME.to_owned())
        .await?
        .is_none()
    {
        let configured = config.admin_password();
        let password = match configured {
            Some(p) => SecretString::from(p.expose_secret().to_owned()),
            None => random_secret(20),
        };
        let new = NewUser {
            username: ADMIN_USERNAME.to_owned(),
            email: Some("admin@codelab.local".to_owned()),
            password_hash: passwords.hash(&password).await?,
            scopes: Scopes::parse("api:admin api:read api:write").expect("known scopes"),
            is_verified: true,
        };
        let audit = Audit::new(AuditEvent::UserCreated, true, &context)
            .user(None, ADMIN_USERNAME)
            .detail("by", "seed");
        if ignore_exists(store.create_user(new, audit).await)? && configured.is_none() {
            generated.admin_password = Some(password);
        }
    }
    let public = |id: &str, name: &str, scopes: &str, lifetime: i64| NewClient {
        client_id: id.to_owned(),
        name: name.to_owned(),
        description: String::new(),
        secret_hash: None,
        allowed_scopes: Scopes::parse(scopes).expect("known scopes"),
        allowed_grant_types: vec![GrantType::Password, GrantType::RefreshToken],
        access_token_lifetime_secs: lifetime,
        refresh_token_lifetime_secs: 30 * 86_400,
    };
    for client in [
        public(
            FLUTTER_CLIENT_ID,
            "CodeLab Flutter app",
            "api:read api:write",
            900,
        ),
        public(
            CLI_CLIENT_ID,
            "codelab command-line tool",
            "api:admin api:read api:write",
            900,
        ),
    ] {
        if store.client(client.client_id.clone()).await?.is_none() {
            let audit = Audit::new(AuditEvent::ClientCreated, true, &context)
                .client(client.client_id.clone())
                .detail("by", "seed");
            ignore_exists(store.create_client(client, audit).await)?;
        }
    }
    if store.client(INTERNAL_CLIENT_ID.to_owned()).await?.is_none() {
        let configured = config
            .internal_client_secret
            .as_ref()
            .filter(|s| !s.expose_secret().is_empty());
        let secret = match configured {
            Some(s) => SecretString::from(s.expose_secret().to_owned()),
            None => random_secret(40),
        };
        let client = NewClient {
            client_id: INTERNAL_CLIENT_ID.to_owned(),
            name: "CodeLab internal services".to_owned(),
            description: String::new(),
            secret_hash: Some(passwords.hash(&secret).await?),
            allowed_scopes: Scopes::parse("api:admin api:read api:write").expect("known scopes"),
            allowed_grant_types: GrantType::ALL.to_vec(),
            access_token_lifetime_secs: 3_600,
            refresh_token_lifetime_secs: 90 * 86_400,
        };
        let audit = Audit::new(AuditEvent::ClientCreated, true, &context)
            .client(INTERNAL_CLIENT_ID)
            .detail("by", "seed");
        if ignore_exists(store.create_client(client, audit).await)? && configured.is_none() {
            generated.internal_client_secret = Some(secret);
        }
    }
    Ok(generated)
}

/// Whether the row was created; another replica seeding the same row first is fine.
fn ignore_exists<T>(result: Result<T>) -> Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
