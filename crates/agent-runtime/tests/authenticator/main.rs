//! Tests of `agent_runtime::auth`: every rule of the module documentation, through its
//! public API ([`Authenticator`](agent_runtime::auth::Authenticator) and the key sources),
//! without a server or a database.
#![allow(missing_docs)]

mod claims;
mod config;
mod construction;
mod forgery;
mod logs;
mod refresh;
mod sources;
mod support;
mod tokens;
