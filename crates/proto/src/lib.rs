//! codelab's gRPC contract, generated from `proto/` at build time.
//!
//! Nothing but generated code lives here: each service crate converts these types into its own
//! plain Rust types at its `grpc` edge.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// `codelab.agent.v1`: the agent-runtime conversation store.
pub mod agent {
    /// Version 1 of the agent-runtime API.
    pub mod v1 {
        tonic::include_proto!("codelab.agent.v1");
    }
}

/// `codelab.auth.v1`: the auth-service token service, users and clients.
pub mod auth {
    /// Version 1 of the auth-service API.
    pub mod v1 {
        tonic::include_proto!("codelab.auth.v1");
    }
}

/// `codelab.admin.v1`: database administration, served by every service for its database.
pub mod admin {
    /// Version 1 of the admin API.
    pub mod v1 {
        tonic::include_proto!("codelab.admin.v1");
    }
}

/// Encoded `FileDescriptorSet` of every codelab proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/codelab_descriptor.bin"));
