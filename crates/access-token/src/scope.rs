//! The OAuth 2.0 scopes of codelab's API (RFC 6749 §3.3), as both services spell them.

use std::fmt;

/// A scope of the API: `"api:read"`, `"api:write"`, `"api:admin"`, `"api:approve"`.
/// [`Scope::Admin`] implies the others (see [`crate::Principal::has`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `api:read`: read sessions, messages and contexts.
    Read,
    /// `api:write`: create and modify them.
    Write,
    /// `api:admin`: everything, including administrative operations.
    Admin,
    /// `api:approve`: resolve a pending approval the caller requested itself (a person's
    /// token; an agent's token must not carry it).
    Approve,
}

impl Scope {
    /// Every scope, in ascending order.
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Admin, Scope::Approve];

    /// The wire names of [`Scope::ALL`], in the same order.
    pub const NAMES: [&'static str; 4] = [
        Scope::Read.as_str(),
        Scope::Write.as_str(),
        Scope::Admin.as_str(),
        Scope::Approve.as_str(),
    ];

    /// The scope's wire name, e.g. `"api:read"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "api:read",
            Scope::Write => "api:write",
            Scope::Admin => "api:admin",
            Scope::Approve => "api:approve",
        }
    }

    /// Parses a wire name (exact, case-sensitive match of [`Scope::as_str`]).
    /// Returns `None` for anything else, e.g. `"openid"`.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
