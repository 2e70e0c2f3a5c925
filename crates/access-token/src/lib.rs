//! The access-token contract both codelab services share: auth-service signs access tokens,
//! agent-runtime (and auth-service itself) verify them.
//!
//! - [`AccessClaims`]: the claims auth-service puts in a token (`type` = [`ACCESS_TYPE`]),
//!   and [`AccessClaims::sign_rs256`].
//! - [`Scope`]: the scope names (`api:read`, `api:write`, `api:admin`, `api:approve`).
//! - [`Principal`]: who is calling (subject, client, scopes), from the claims of any issuer.
//! - [`bearer`]: `authorization: Bearer <token>` (RFC 6750 §2.1).
//! - [`TokenHeader`], [`KeySet`], [`Rules`]: verification against a JWK Set (RFC 7517) —
//!   asymmetric algorithms only, the algorithm fixed by the key (RFC 8725 §3.1).
//! - [`KeyCache`]: the key set in use and the tokens already verified against it.
//!
//! Fetching a JWK Set (from a file, over HTTP, from auth-service) is the verifier's business;
//! this crate does no I/O. Errors are [`AuthError`]; their messages never contain a token.

pub mod bearer;
mod cache;
mod claims;
mod error;
mod jwks;
mod principal;
mod scope;
mod verify;

pub use cache::{CachedKeys, KeyCache, VERIFIED_CACHE_ENTRIES, token_digest};
pub use claims::{ACCESS_TOKEN_TYP, ACCESS_TYPE, AccessClaims};
pub use error::AuthError;
pub use jsonwebtoken::jwk::JwkSet;
pub use jwks::{KeySet, MAX_JWKS_BYTES, MIN_RSA_BITS, VerifyingKey, parse_jwk_set};
pub use principal::Principal;
pub use scope::Scope;
pub use verify::{MAX_TOKEN_BYTES, Rules, TokenHeader};
