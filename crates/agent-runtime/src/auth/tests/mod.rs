//! Tests of [`crate::auth`]: every rule of the module documentation, through
//! [`Authenticator`](crate::auth::Authenticator) and the key sources.

mod claims;
mod config;
mod construction;
mod forgery;
mod logs;
mod refresh;
mod sources;
mod support;
mod tokens;
