//! First-start data (the original service's `seed_default_data`): the `admin` user and the
//! standard clients. Idempotent: existing rows are left as they are, so restarting or several
//! replicas starting together change nothing.

use crate::config::Config;
use crate::credentials::{ADMIN_PASSWORD_KEY, CredentialsFile, INTERNAL_CLIENT_SECRET_KEY};
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

/// Credentials generated during seeding: written once to the credentials file
/// ([`crate::credentials`]), stored in the database only hashed, never logged.
#[derive(Debug, Default)]
pub struct Generated {
    /// The admin password, when `AUTH_SERVICE__ADMIN_PASSWORD` was not set.
    pub admin_password: Option<SecretString>,
    /// The `codelab-internal` secret, when `AUTH_SERVICE__INTERNAL_CLIENT_SECRET` was not set.
    pub internal_client_secret: Option<SecretString>,
    /// The file they were written to (absolute), when anything was generated.
    pub file: Option<std::path::PathBuf>,
}

impl Generated {
    /// Whether seeding generated anything.
    pub fn is_empty(&self) -> bool {
        self.admin_password.is_none() && self.internal_client_secret.is_none()
    }
}

/// Opens the credentials file once, before the first generated credential is stored.
struct Pending<'a> {
    file: &'a CredentialsFile,
    prepared: bool,
    created: bool,
}

impl Pending<'_> {
    fn prepare(&mut self) -> Result<()> {
        if !self.prepared {
            self.created = self.file.prepare().map_err(|e| self.failed(&e))?;
            self.prepared = true;
        }
        Ok(())
    }

    fn failed(&self, e: &std::io::Error) -> Error {
        Error::Internal(format!(
            "cannot write the first-start credentials file {}: {e} (set              AUTH_SERVICE__CREDENTIALS_FILE to a writable path, or AUTH_SERVICE__ADMIN_PASSWORD              and AUTH_SERVICE__INTERNAL_CLIENT_SECRET)",
            self.file.path().display()
        ))
    }
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
/// Generated credentials are written to `config`'s credentials file (mode 0600) and returned.
///
/// # Errors
/// Database errors; `Internal` naming the path when the credentials file cannot be written
/// (checked before anything generated is stored).
pub async fn seed(store: &Store, passwords: &Passwords, config: &Config) -> Result<Generated> {
    let file = config.credentials_file();
    let mut pending = Pending {
        file: &file,
        prepared: false,
        created: false,
    };
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
            None => {
                pending.prepare()?;
                random_secret(20)
            }
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
            None => {
                pending.prepare()?;
                random_secret(40)
            }
        };
        let client = NewClient {
            client_id: INTERNAL_CLIENT_ID.to_owned(),
            name: "CodeLab internal services".to_owned(),
            description: String::new(),
            secret_hash: Some(passwords.hash_client_secret(&secret).await?),
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
    if !generated.is_empty() {
        let mut entries = Vec::new();
        if let Some(p) = &generated.admin_password {
            entries.push((ADMIN_PASSWORD_KEY, p));
        }
        if let Some(s) = &generated.internal_client_secret {
            entries.push((INTERNAL_CLIENT_SECRET_KEY, s));
        }
        file.write(&entries).map_err(|e| pending.failed(&e))?;
        let path = file.path();
        generated.file = Some(std::path::absolute(path).unwrap_or_else(|_| path.to_owned()));
    } else if pending.created {
        // Another replica seeded first: leave no empty file behind.
        let _ = std::fs::remove_file(file.path());
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
