//! Configuration loading both services share: the layering (defaults < TOML file < `.env` <
//! `PREFIX__A__B` environment variables, see `db_core::service::load_layered`), the one
//! [`ConfigError`], validation as "the first of every problem", and the database URL variable.
//!
//! A service's own `config.rs` keeps its fields, defaults, problems and warnings; it
//! implements [`Settings`] and calls these functions.

use db_core::DbUrl;
use serde::de::DeserializeOwned;
use std::path::Path;

/// The configuration is unusable; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// A service's configuration as the loader sees it.
pub trait Settings: DeserializeOwned {
    /// Environment prefix of every variable (`AGENT_RUNTIME`, `AUTH_SERVICE`).
    const ENV_PREFIX: &'static str;

    /// Every value the service would refuse to start with, each naming its variable.
    fn problems(&self) -> Vec<String>;
}

/// Loads defaults < `file` (TOML) < `.env` < environment, and validates.
///
/// # Errors
/// [`ConfigError`] naming the variable and what was expected, e.g.
/// `AGENT_RUNTIME__DB__POOL_SIZE: invalid digit found in string`, or the first problem.
pub fn load<C: Settings>(file: Option<&Path>) -> Result<C, ConfigError> {
    let config: C = load_unvalidated(file)?;
    validate(&config)?;
    Ok(config)
}

/// The layering of [`load`] without [`validate`], for callers that adjust the configuration
/// first (`codelab up`) or report every problem (`codelab config check`).
///
/// # Errors
/// [`ConfigError`] naming the variable whose value does not parse.
pub fn load_unvalidated<C: Settings>(file: Option<&Path>) -> Result<C, ConfigError> {
    db_core::service::load_layered(C::ENV_PREFIX, file).map_err(ConfigError)
}

/// `Ok` when `config` has no problem.
///
/// # Errors
/// [`ConfigError`] holding the first of [`Settings::problems`].
pub fn validate<C: Settings>(config: &C) -> Result<(), ConfigError> {
    match config.problems().into_iter().next() {
        Some(problem) => Err(ConfigError(problem)),
        None => Ok(()),
    }
}

/// Parses `url`, the value of `<prefix>__DB_URL`.
///
/// # Errors
/// [`ConfigError`] naming `<prefix>__DB_URL` and the accepted spellings.
pub fn database_url(prefix: &str, url: &str) -> Result<DbUrl, ConfigError> {
    DbUrl::parse(url).map_err(|e| ConfigError(format!("{prefix}__DB_URL: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Example {
        pool_size: u32,
    }

    impl Settings for Example {
        const ENV_PREFIX: &'static str = "SERVICE_KIT_SETTINGS_TEST";
        fn problems(&self) -> Vec<String> {
            let mut problems = Vec::new();
            if self.pool_size == 0 {
                problems.push(format!(
                    "{}__POOL_SIZE must be at least 1",
                    Self::ENV_PREFIX
                ));
            }
            problems.push("second".to_owned());
            problems
        }
    }

    #[test]
    fn validation_reports_the_first_problem() {
        let err = validate(&Example::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration error: SERVICE_KIT_SETTINGS_TEST__POOL_SIZE must be at least 1"
        );
        assert_eq!(validate(&Example { pool_size: 1 }).unwrap_err().0, "second");
    }

    #[test]
    fn a_bad_database_url_names_the_variable() {
        let err = database_url("SVC", "mysql://x/y").unwrap_err();
        assert!(err.0.starts_with("SVC__DB_URL: "), "{err}");
        database_url("SVC", "sqlite::memory:").unwrap();
    }
}
