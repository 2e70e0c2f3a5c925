//! auth-service as tests run it (feature `testing`): a configuration for a throwaway database
//! with cheap password hashing, a known admin password and a set internal-client secret, so
//! nothing is generated into a credentials file in the working folder.

use crate::config::Config;
use crate::passwords::PasswordSettings;
use secrecy::SecretString;

/// Cheap argon2 parameters: tests run hundreds of hashes.
pub fn fast_passwords() -> PasswordSettings {
    PasswordSettings {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
        max_concurrent: 4,
    }
}

/// A configuration serving the database at `db_url`: admin password `admin_password`,
/// `codelab-internal` secret `internal_client_secret`, a new key-encryption key,
/// [`fast_passwords`], the database probed every 200 ms, 5 s of shutdown grace; the rest
/// default.
pub fn config(db_url: &str, admin_password: &str, internal_client_secret: &str) -> Config {
    Config {
        db_url: SecretString::from(db_url),
        admin_password: Some(SecretString::from(admin_password)),
        internal_client_secret: Some(SecretString::from(internal_client_secret)),
        key_encryption_key: Some(crate::kek::Keks::generate()),
        password: fast_passwords(),
        health_check_interval_ms: 200,
        shutdown_grace_secs: 5,
        ..Config::default()
    }
}
