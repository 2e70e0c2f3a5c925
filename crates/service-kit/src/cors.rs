//! Cross-origin requests from browsers (CORS, the Fetch standard's "CORS protocol"), for
//! gRPC-Web clients and the plain HTTP routes.
//!
//! `<PREFIX>__CORS__ALLOWED_ORIGINS` lists the web origins whose pages may call the service:
//! comma-separated in the environment (`https://app.example.com,http://localhost:3000`), a
//! TOML array (or the same comma list) in a file. Each entry is an origin as browsers send it,
//! `scheme://host[:port]` with `http` or `https`, lowercase, no default port, no path and no
//! trailing slash; or `*` alone for any origin. Empty (the default) means no CORS at all: no
//! CORS header is ever sent, and browsers refuse cross-origin calls.
//!
//! With origins configured, `tower-http`'s CORS layer sits in front of every route: a preflight
//! (`OPTIONS`) is answered there with the allowed methods (`GET`, `POST`, `OPTIONS`), request
//! headers ([`ALLOWED_HEADERS`]) and a max-age of [`MAX_AGE`]; any other answer gets the
//! exposed headers ([`EXPOSED_HEADERS`], so a browser can read the gRPC status of a
//! trailers-only answer), and `access-control-allow-origin` only when the request's origin is
//! in the list. Credentials (cookies) are never allowed: callers authenticate with a bearer
//! token. Without origins there is no layer at all.

use http::{HeaderName, HeaderValue, Method};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Request headers a cross-origin caller may send: the bearer token, the gRPC-Web content
/// type and markers its clients add, and the deadline.
pub const ALLOWED_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
];

/// Response headers a cross-origin caller may read: the gRPC status (in the headers of a
/// trailers-only answer), the rate limiter's hint and the authentication challenge.
pub const EXPOSED_HEADERS: [&str; 5] = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "retry-after",
    "www-authenticate",
];

/// How long a browser may cache a preflight answer (`access-control-max-age`); short, so that
/// a changed origin list takes effect soon.
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// `<PREFIX>__CORS__*`: the origins allowed to call the service from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct CorsSettings {
    /// Allowed origins (`https://app.example.com`), or `["*"]` for any; empty: no CORS.
    /// Serialized as the comma list the environment variable takes.
    #[serde(deserialize_with = "origin_list", serialize_with = "comma_list")]
    pub allowed_origins: Vec<String>,
}

impl CorsSettings {
    /// Every entry of `<prefix>__CORS__ALLOWED_ORIGINS` that is not an origin, each message
    /// naming the variable and the entry (and the spelling browsers use, when that differs
    /// only in form).
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let var = format!("{prefix}__CORS__ALLOWED_ORIGINS");
        let origins = &self.allowed_origins;
        if origins.iter().any(|o| o == "*") {
            return if origins.len() == 1 {
                Vec::new()
            } else {
                vec![format!(
                    "{var}: `*` (any origin) must be the only entry, found {} entries",
                    origins.len()
                )]
            };
        }
        origins
            .iter()
            .filter_map(|origin| check_origin(origin).err())
            .map(|problem| format!("{var}: {problem}"))
            .collect()
    }

    /// The layer serving these settings; `None` without origins (no CORS at all).
    ///
    /// # Errors
    /// The first of [`CorsSettings::problems`].
    pub fn layer(&self, prefix: &str) -> Result<Option<CorsLayer>, String> {
        if let Some(problem) = self.problems(prefix).into_iter().next() {
            return Err(problem);
        }
        if self.allowed_origins.is_empty() {
            return Ok(None);
        }
        let allow_origin = if self.allowed_origins == ["*"] {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(
                self.allowed_origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        };
        Ok(Some(
            CorsLayer::new()
                .allow_origin(allow_origin)
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
                .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
                .max_age(MAX_AGE),
        ))
    }
}

/// `Ok` when `origin` is the serialized origin of an `http` or `https` URL; else why not.
fn check_origin(origin: &str) -> Result<(), String> {
    let expected = "expected an origin scheme://host[:port] with http or https, e.g. \
                    https://app.example.com or http://localhost:3000, or * alone";
    let url = url::Url::parse(origin).map_err(|e| format!("{origin:?}: {e}; {expected}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("{origin:?}: {expected}"));
    }
    let serialized = url.origin().ascii_serialization();
    if serialized == origin {
        return Ok(());
    }
    let authority_and_rest = origin.split_once("://").map_or("", |(_, rest)| rest);
    if authority_and_rest.contains(['/', '?', '#']) {
        return Err(format!(
            "{origin:?} has a path, query or fragment (a trailing slash counts); write the \
             origin alone: {serialized}"
        ));
    }
    Err(format!(
        "{origin:?} is not written as browsers send it (lowercase, no default port, no \
         user name); write {serialized}"
    ))
}

/// A comma list (environment variable, or a TOML string) or a list of strings (TOML array);
/// entries trimmed, empty ones dropped.
fn origin_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Comma(String),
        List(Vec<String>),
    }
    let entries = match Form::deserialize(deserializer)? {
        Form::Comma(list) => list.split(',').map(str::to_owned).collect(),
        Form::List(list) => list,
    };
    Ok(entries
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect())
}

fn comma_list<S: Serializer>(origins: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&origins.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(origins: &[&str]) -> CorsSettings {
        CorsSettings {
            allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    #[test]
    fn origins_as_browsers_send_them_are_accepted() {
        let ok = settings(&[
            "https://app.example.com",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]:5173",
        ]);
        assert_eq!(ok.problems("SVC"), Vec::<String>::new());
        assert!(ok.layer("SVC").is_ok());
        assert!(settings(&["*"]).problems("SVC").is_empty());
        assert!(CorsSettings::default().problems("SVC").is_empty());
    }

    #[test]
    fn anything_else_is_refused_naming_the_variable() {
        for (bad, hint) in [
            ("https://app.example.com/", "trailing slash"),
            ("https://app.example.com/path", "path"),
            ("app.example.com", "expected an origin"),
            ("ftp://files.example.com", "expected an origin"),
            ("https://App.Example.com", "write https://app.example.com"),
            (
                "https://app.example.com:443",
                "write https://app.example.com",
            ),
            ("http://localhost:99999", "invalid port"),
            ("null", "expected an origin"),
        ] {
            let problems = settings(&["http://localhost:3000", bad]).problems("SVC");
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            let problem = &problems[0];
            assert!(
                problem.starts_with("SVC__CORS__ALLOWED_ORIGINS: "),
                "{problem}"
            );
            assert!(problem.contains(hint), "{bad}: {problem}");
            assert!(settings(&[bad]).layer("SVC").is_err());
        }
        let star = settings(&["*", "https://app.example.com"]).problems("SVC");
        assert!(star[0].contains("must be the only entry"), "{star:?}");
    }

    #[test]
    fn a_comma_list_and_an_array_read_the_same() {
        let comma: CorsSettings = serde_json::from_value(serde_json::json!({
            "allowed_origins": " https://a.example.com, http://localhost:3000 ,"
        }))
        .unwrap();
        let array: CorsSettings = serde_json::from_value(serde_json::json!({
            "allowed_origins": ["https://a.example.com", "http://localhost:3000"]
        }))
        .unwrap();
        assert_eq!(comma, array);
        assert_eq!(
            array.allowed_origins,
            ["https://a.example.com", "http://localhost:3000"]
        );
        assert_eq!(
            serde_json::to_value(&array).unwrap()["allowed_origins"],
            "https://a.example.com,http://localhost:3000"
        );
        let empty: CorsSettings = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(empty.allowed_origins.is_empty());
    }
}
