//! `codelab.auth.v1.ClientService` (api:admin).

use super::{Shared, convert, rpc};
use crate::error::{Error, Result};
use crate::model::{Audit, AuditEvent, ClientUpdate, DEFAULT_SCOPES, GrantType, NewClient, Scopes};
use crate::oauth::random_token;
use access_token::Scope;
use codelab_proto::auth::v1 as pb;
use codelab_proto::auth::v1::client_service_server::ClientService;
use secrecy::SecretString;
use tonic::{Request, Response, Status};

/// Longest access-token lifetime a client may have, seconds (1 day).
pub const MAX_ACCESS_LIFETIME_SECS: i64 = 86_400;
/// Longest refresh-family lifetime a client may have, seconds (365 days).
pub const MAX_REFRESH_LIFETIME_SECS: i64 = 365 * 86_400;

/// The ClientService implementation.
#[derive(Clone, Debug)]
pub struct ClientApi {
    shared: Shared,
}

impl ClientApi {
    /// The service over `shared`.
    pub fn new(shared: Shared) -> ClientApi {
        ClientApi { shared }
    }

    async fn new_secret(&self) -> Result<(String, String)> {
        let secret = random_token();
        let hash = self
            .shared
            .passwords
            .hash_client_secret(&SecretString::from(secret.clone()))
            .await?;
        Ok((secret, hash))
    }
}

fn required_id(value: &str) -> Result<String> {
    if value.is_empty() {
        return Err(Error::invalid("client_id", "is required"));
    }
    Ok(value.trim().to_lowercase())
}

#[tonic::async_trait]
impl ClientService for ClientApi {
    async fn create_client(
        &self,
        request: Request<pb::CreateClientRequest>,
    ) -> Result<Response<pb::CreateClientResponse>, Status> {
        rpc!(async {
            let caller = self.shared.caller_with(&request, Scope::Admin).await?;
            let context = self.shared.context(&request);
            let req = request.into_inner();
            let client_id = if req.client_id.is_empty() {
                format!(
                    "client-{}",
                    &uuid::Uuid::now_v7().simple().to_string()[20..]
                )
            } else {
                convert::client_id(&req.client_id)?
            };
            let name = convert::text("name", req.name.trim(), 255)?;
            if name.is_empty() {
                return Err(Error::invalid("name", "is required"));
            }
            let allowed_scopes = if req.allowed_scopes.is_empty() {
                Scopes::parse(DEFAULT_SCOPES).expect("known scopes")
            } else {
                convert::scopes("allowed_scopes", &req.allowed_scopes)?
            };
            let allowed_grant_types = if req.allowed_grant_types.is_empty() {
                if req.is_confidential {
                    GrantType::ALL.to_vec()
                } else {
                    vec![GrantType::Password, GrantType::RefreshToken]
                }
            } else {
                convert::grant_types(&req.allowed_grant_types)?
            };
            if !req.is_confidential && allowed_grant_types.contains(&GrantType::ClientCredentials) {
                return Err(Error::invalid(
                    "allowed_grant_types",
                    "client_credentials needs a confidential client (RFC 6749 §4.4)",
                ));
            }
            let (secret, secret_hash) = if req.is_confidential {
                let (s, h) = self.new_secret().await?;
                (s, Some(h))
            } else {
                (String::new(), None)
            };
            let new = NewClient {
                client_id: client_id.clone(),
                name,
                description: convert::text("description", &req.description, 2000)?,
                secret_hash,
                allowed_scopes,
                allowed_grant_types,
                access_token_lifetime_secs: convert::lifetime(
                    "access_token_lifetime_secs",
                    req.access_token_lifetime_secs,
                    900,
                    MAX_ACCESS_LIFETIME_SECS,
                )?,
                refresh_token_lifetime_secs: convert::lifetime(
                    "refresh_token_lifetime_secs",
                    req.refresh_token_lifetime_secs,
                    30 * 86_400,
                    MAX_REFRESH_LIFETIME_SECS,
                )?,
            };
            let audit = Audit::new(AuditEvent::ClientCreated, true, &context)
                .client(client_id)
                .detail("by", caller.name());
            let client = self.shared.store.create_client(new, audit).await?;
            Ok(pb::CreateClientResponse {
                client: Some(convert::client(client)),
                client_secret: secret,
            })
        })
    }

    async fn list_clients(
        &self,
        request: Request<pb::ListClientsRequest>,
    ) -> Result<Response<pb::ListClientsResponse>, Status> {
        rpc!(async {
            self.shared.caller_with(&request, Scope::Admin).await?;
            let req = request.into_inner();
            let page_size = convert::page_size(req.page_size)?;
            let after = convert::decode_page_token("clients", &req.page_token)?;
            let (clients, next, total) = self.shared.store.list_clients(page_size, after).await?;
            Ok(pb::ListClientsResponse {
                clients: clients.into_iter().map(convert::client).collect(),
                next_page_token: next
                    .map(|id| convert::encode_page_token("clients", id))
                    .unwrap_or_default(),
                total_size: total,
            })
        })
    }

    async fn get_client(
        &self,
        request: Request<pb::GetClientRequest>,
    ) -> Result<Response<pb::Client>, Status> {
        rpc!(async {
            self.shared.caller_with(&request, Scope::Admin).await?;
            let id = required_id(&request.get_ref().client_id)?;
            let client = self
                .shared
                .store
                .client(id.clone())
                .await?
                .ok_or_else(|| Error::not_found("client", id))?;
            Ok(convert::client(client.to_client()))
        })
    }

    async fn update_client(
        &self,
        request: Request<pb::UpdateClientRequest>,
    ) -> Result<Response<pb::UpdateClientResponse>, Status> {
        rpc!(async {
            let caller = self.shared.caller_with(&request, Scope::Admin).await?;
            let context = self.shared.context(&request);
            let req = request.into_inner();
            let id = required_id(&req.client_id)?;
            let current = self
                .shared
                .store
                .client(id.clone())
                .await?
                .ok_or_else(|| Error::not_found("client", id.clone()))?;
            let grants = if req.update_grant_types {
                let g = convert::grant_types(&req.allowed_grant_types)?;
                if !current.is_confidential && g.contains(&GrantType::ClientCredentials) {
                    return Err(Error::invalid(
                        "allowed_grant_types",
                        "client_credentials needs a confidential client (RFC 6749 §4.4)",
                    ));
                }
                Some(g)
            } else {
                None
            };
            let (secret, secret_hash) = if req.rotate_secret {
                if !current.is_confidential {
                    return Err(Error::FailedPrecondition {
                        reason: "PUBLIC_CLIENT",
                        message: "a public client has no secret to rotate".to_owned(),
                    });
                }
                let (s, h) = self.new_secret().await?;
                (s, Some(h))
            } else {
                (String::new(), None)
            };
            let update = ClientUpdate {
                name: req
                    .name
                    .as_deref()
                    .map(|n| convert::text("name", n.trim(), 255))
                    .transpose()?,
                description: req
                    .description
                    .as_deref()
                    .map(|d| convert::text("description", d, 2000))
                    .transpose()?,
                allowed_scopes: req
                    .allowed_scopes
                    .as_deref()
                    .map(|s| convert::scopes("allowed_scopes", s))
                    .transpose()?,
                allowed_grant_types: grants,
                access_token_lifetime_secs: req
                    .access_token_lifetime_secs
                    .map(|v| {
                        convert::lifetime(
                            "access_token_lifetime_secs",
                            v,
                            900,
                            MAX_ACCESS_LIFETIME_SECS,
                        )
                    })
                    .transpose()?,
                refresh_token_lifetime_secs: req
                    .refresh_token_lifetime_secs
                    .map(|v| {
                        convert::lifetime(
                            "refresh_token_lifetime_secs",
                            v,
                            30 * 86_400,
                            MAX_REFRESH_LIFETIME_SECS,
                        )
                    })
                    .transpose()?,
                is_active: req.is_active,
                secret_hash,
            };
            let audit = Audit::new(AuditEvent::ClientUpdated, true, &context)
                .client(id.clone())
                .detail("by", caller.name())
                .detail("secret_rotated", req.rotate_secret);
            let client = self.shared.store.update_client(id, update, audit).await?;
            Ok(pb::UpdateClientResponse {
                client: Some(convert::client(client)),
                client_secret: secret,
            })
        })
    }

    async fn delete_client(
        &self,
        request: Request<pb::DeleteClientRequest>,
    ) -> Result<Response<pb::DeleteClientResponse>, Status> {
        rpc!(async {
            let caller = self.shared.caller_with(&request, Scope::Admin).await?;
            let context = self.shared.context(&request);
            let id = required_id(&request.get_ref().client_id)?;
            if id == caller.client_id {
                return Err(Error::FailedPrecondition {
                    reason: "CANNOT_TARGET_SELF",
                    message: "you cannot delete the client your token was issued to".to_owned(),
                });
            }
            let audit = Audit::new(AuditEvent::ClientDeleted, true, &context)
                .client(id.clone())
                .detail("by", caller.name());
            self.shared.store.delete_client(id, audit).await?;
            Ok(pb::DeleteClientResponse {})
        })
    }
}
