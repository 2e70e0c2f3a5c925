//! Printing URLs and connection strings without their secrets, in every spelling a password can
//! take: URL userinfo (`postgres://user:pw@host`), a query parameter (`?password=pw`,
//! `?sslpassword=…`, a JWKS URL's `?token=…`), and libpq's key/value connection strings
//! (`host=db password='p w'`, PostgreSQL manual §34.1.1).
//!
//! A secret value is replaced by `***`; everything else is kept, so the printed text still says
//! where the connection goes.

/// What replaces a secret.
pub const REDACTED: &str = "***";

/// Whether a query parameter or key/value key names a secret: any key containing `pass`, `pwd`,
/// `secret`, `token`, `credential` or `signature`, and `key`, `apikey`, `api_key`, `sig`, `auth`
/// (case-insensitive).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["pass", "pwd", "secret", "token", "credential", "signature"]
        .iter()
        .any(|part| k.contains(part))
        || matches!(k.as_str(), "key" | "apikey" | "api_key" | "sig" | "auth")
}

/// Replaces the values of secret query parameters ([`is_secret_key`]) of `url` by `***`; the
/// other parameters keep their spelling.
pub fn redact_query(url: &mut url::Url) {
    let Some(query) = url.query() else {
        return;
    };
    let mut changed = false;
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            let decoded = percent_encoding::percent_decode_str(&key.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            if pair.contains('=') && is_secret_key(&decoded) {
                changed = true;
                format!("{key}={REDACTED}")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    if changed {
        url.set_query(Some(&pairs.join("&")));
    }
}

/// `url` with its password (userinfo) and secret query parameters replaced by `***`.
pub fn redact_url(url: &url::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        // Cannot fail: a URL with a password has a host.
        let _ = url.set_password(Some(REDACTED));
    }
    redact_query(&mut url);
    url.to_string()
}

/// Any text that may hold a URL or a libpq key/value connection string, for printing: a URL
/// that parses is [`redact_url`]'d; anything else has the values of secret `key=value` pairs
/// (`password=…`, quoted or not, or in a query string) and any userinfo password (between
/// `//user:` and the last `@`) replaced by `***`.
pub fn redact_text(raw: &str) -> String {
    if let Ok(url) = url::Url::parse(raw.trim())
        && url.has_host()
    {
        return redact_url(&url);
    }
    redact_userinfo(&redact_key_values(raw))
}

/// Replaces the password between `//user:` and the last `@` (best effort, for text that does
/// not parse as a URL).
fn redact_userinfo(raw: &str) -> String {
    if let Some(start) = raw.find("//")
        && let Some(at) = raw.rfind('@')
        && at > start
    {
        let creds = &raw[start + 2..at];
        if let Some(colon) = creds.find(':') {
            return format!(
                "{}{}:{REDACTED}{}",
                &raw[..start + 2],
                &creds[..colon],
                &raw[at..]
            );
        }
    }
    raw.to_owned()
}

/// Replaces the value of every secret `key=value` pair of `raw` — separated by white space or
/// `&`/`?`/`;`, the value optionally single-quoted with `\'` and `\\` escapes as libpq allows —
/// by `***`.
fn redact_key_values(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    let is_sep = |c: char| c.is_whitespace() || matches!(c, '&' | '?' | ';');
    while i < chars.len() {
        // A key: the run of non-separator characters up to `=`.
        let start = i;
        while i < chars.len() && !is_sep(chars[i]) && chars[i] != '=' {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        out.push_str(&key);
        // Spaces around `=` are allowed in libpq's syntax.
        let mut eq = i;
        while eq < chars.len() && chars[eq] == ' ' {
            eq += 1;
        }
        if eq >= chars.len() || chars[eq] != '=' {
            if i >= chars.len() {
                break;
            }
            out.push(chars[i]);
            i += 1;
            continue;
        }
        out.extend(&chars[i..=eq]);
        i = eq + 1;
        while i < chars.len() && chars[i] == ' ' {
            out.push(' ');
            i += 1;
        }
        let value_start = i;
        if i < chars.len() && chars[i] == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
        } else {
            while i < chars.len() && !is_sep(chars[i]) {
                i += 1;
            }
        }
        if is_secret_key(&key) {
            out.push_str(REDACTED);
        } else {
            out.extend(&chars[value_start..i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_password_spelling_is_redacted() {
        for (raw, shown) in [
            (
                "postgres://u:pw1@db:5432/x?sslmode=require&password=pw2",
                "postgres://u:***@db:5432/x?sslmode=require&password=***",
            ),
            (
                "postgres://db/x?Password=pw2&application_name=a",
                "postgres://db/x?Password=***&application_name=a",
            ),
            (
                "https://u:pw@auth.example/jwks?access_token=t0k&x=1",
                "https://u:***@auth.example/jwks?access_token=***&x=1",
            ),
            (
                "host=db user=u password=pw1 dbname=x",
                "host=db user=u password=*** dbname=x",
            ),
            (
                "host=db password = 'p w\\' 1' sslpassword=k2 port=5432",
                "host=db password = *** sslpassword=*** port=5432",
            ),
            ("postgres://u:pw1@[bad/x", "postgres://u:***@[bad/x"),
        ] {
            assert_eq!(redact_text(raw), shown, "{raw}");
        }
    }

    #[test]
    fn db_url_hides_a_query_password() {
        let url =
            crate::DbUrl::parse("postgresql://u@db/x?password=s3cret&sslmode=disable").unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://u@db/x?password=***&sslmode=disable"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(crate::DbUrl::parse(&url.expose_url()).unwrap(), url);
        for bad in [
            "host=db password=s3cret",
            "postgresql://u@[db/x?password=s3cret",
        ] {
            let e = crate::DbUrl::parse(bad).unwrap_err();
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(
                std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000),
            ))]

            /// A password never shows, in whichever of the spellings it is given, and other
            /// text never panics.
            #[test]
            fn passwords_never_show(
                password in "[A-Za-z0-9!*~._-]{8,24}",
                key in prop::sample::select(vec![
                    "password", "PASSWORD", "sslpassword", "pwd", "token", "access_token",
                    "client_secret",
                ]),
                spelling in 0..5usize,
                noise in "\\PC{0,40}",
            ) {
                let raw = match spelling {
                    0 => format!("postgresql://user:{password}@db:5432/x"),
                    1 => format!("postgresql://user@db:5432/x?sslmode=prefer&{key}={password}"),
                    2 => format!("host=db {key}={password} dbname=x"),
                    3 => format!("host=db {key}='{password} x' dbname=x"),
                    _ => format!("https://jwks.example/keys?{key}={password}"),
                };
                let shown = redact_text(&raw);
                prop_assert!(!shown.contains(&password), "{raw} -> {shown}");
                let _ = redact_text(&noise);
            }
        }
    }
}
