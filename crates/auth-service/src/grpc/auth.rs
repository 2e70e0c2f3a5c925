//! `codelab.auth.v1.AuthService`: the token endpoint, revocation, introspection and keys.

use super::{Shared, convert, rpc};
use crate::oauth::TokenRequest;
use access_token::Scope;
use codelab_proto::auth::v1 as pb;
use codelab_proto::auth::v1::auth_service_server::AuthService;
use tonic::{Request, Response, Status};

/// The AuthService implementation.
#[derive(Clone, Debug)]
pub struct AuthApi {
    shared: Shared,
}

impl AuthApi {
    /// The service over `shared`.
    pub fn new(shared: Shared) -> AuthApi {
        AuthApi { shared }
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn token(
        &self,
        request: Request<pb::TokenRequest>,
    ) -> Result<Response<pb::TokenResponse>, Status> {
        rpc!(async {
            let context = self.shared.context(&request);
            let req = request.into_inner();
            let issued = self
                .shared
                .oauth
                .token(
                    TokenRequest {
                        grant_type: req.grant_type,
                        client_id: req.client_id,
                        client_secret: convert::secret(req.client_secret),
                        username: req.username,
                        password: convert::secret(req.password),
                        refresh_token: convert::secret(req.refresh_token),
                        scope: req.scope,
                    },
                    &context,
                )
                .await?;
            Ok(pb::TokenResponse {
                access_token: issued.access_token,
                token_type: "Bearer".to_owned(),
                expires_in: issued.expires_in,
                refresh_token: issued.refresh_token.unwrap_or_default(),
                scope: issued.scope.to_string(),
            })
        })
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        rpc!(async {
            let context = self.shared.context(&request);
            let requester = self.shared.requester(&request, &context).await?;
            let req = request.into_inner();
            self.shared
                .oauth
                .revoke(&convert::secret(req.token), &requester, &context)
                .await?;
            Ok(pb::RevokeTokenResponse {})
        })
    }

    async fn introspect_token(
        &self,
        request: Request<pb::IntrospectTokenRequest>,
    ) -> Result<Response<pb::IntrospectTokenResponse>, Status> {
        rpc!(async {
            let context = self.shared.context(&request);
            let requester = self.shared.requester(&request, &context).await?;
            let req = request.into_inner();
            let i = self
                .shared
                .oauth
                .introspect(&convert::secret(req.token), &requester)
                .await?;
            Ok(pb::IntrospectTokenResponse {
                active: i.active,
                sub: i.sub,
                username: i.username,
                client_id: i.client_id,
                scope: i.scope,
                exp: i.exp,
                iat: i.iat,
                token_type: i.token_type,
            })
        })
    }

    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        rpc!(async {
            Ok(pb::GetJwksResponse {
                keys_json: self.shared.oauth.keys().current_jwks_json().await,
            })
        })
    }

    async fn rotate_signing_key(
        &self,
        request: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        rpc!(async {
            let caller = self.shared.caller_with(&request, Scope::Admin).await?;
            let context = self.shared.context(&request);
            let (kid, published_kids) = self
                .shared
                .oauth
                .keys()
                .rotate(&context, &caller.name())
                .await?;
            Ok(pb::RotateSigningKeyResponse {
                kid,
                published_kids,
            })
        })
    }
}

impl super::ClientCredentials for pb::RevokeTokenRequest {
    fn client_credentials(&self) -> (&str, &str) {
        (&self.client_id, &self.client_secret)
    }
}

impl super::ClientCredentials for pb::IntrospectTokenRequest {
    fn client_credentials(&self) -> (&str, &str) {
        (&self.client_id, &self.client_secret)
    }
}
