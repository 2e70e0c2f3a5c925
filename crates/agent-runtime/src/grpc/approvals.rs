//! `codelab.agent.v1.ApprovalService`.

use super::convert::{self, MAX_NAME_CHARS};
use super::{Shared, rpc};
use crate::auth::Scope;
use crate::error::Error;
use crate::model::NewApproval;
use crate::page_token::Kind;
use codelab_proto::agent::v1 as pb;
use codelab_proto::agent::v1::approval_service_server::ApprovalService;
use tonic::{Request, Response, Status};

/// The ApprovalService implementation.
#[derive(Clone, Debug)]
pub struct ApprovalApi {
    shared: Shared,
}

impl ApprovalApi {
    /// The service over `shared`.
    pub fn new(shared: Shared) -> ApprovalApi {
        ApprovalApi { shared }
    }
}

#[tonic::async_trait]
impl ApprovalService for ApprovalApi {
    async fn create_pending_approval(
        &self,
        request: Request<pb::CreatePendingApprovalRequest>,
    ) -> Result<Response<pb::PendingApproval>, Status> {
        rpc!(self.shared, request, Scope::Write, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            if req.call_id.is_empty() {
                return Err(Error::invalid("call_id", "is required"));
            }
            if req.tool_name.is_empty() {
                return Err(Error::invalid("tool_name", "is required"));
            }
            let new = NewApproval {
                call_id: convert::text("call_id", &req.call_id, MAX_NAME_CHARS)?,
                tool_name: convert::text("tool_name", &req.tool_name, MAX_NAME_CHARS)?,
                arguments_json: convert::json_value("arguments_json", &req.arguments_json)?,
                reason: convert::free_text("reason", req.reason)?,
            };
            Ok(convert::approval_to_proto(
                self.shared.store.create_approval(access, id, new).await?,
            ))
        })
    }

    async fn list_pending_approvals(
        &self,
        request: Request<pb::ListPendingApprovalsRequest>,
    ) -> Result<Response<pb::ListPendingApprovalsResponse>, Status> {
        rpc!(self.shared, request, Scope::Read, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            let status = convert::approval_filter("status", req.status)?;
            let page_size = convert::page_size("page_size", req.page_size)?;
            let status_key = status.map_or("", |s| s.as_str());
            let key = [id.as_str(), status_key];
            let after = self
                .shared
                .decode_token(&req.page_token, Kind::Approvals, &key)?
                .map(|(id, _)| id);
            let (approvals, next) = self
                .shared
                .store
                .list_approvals(access, id.clone(), status, page_size, after)
                .await?;
            Ok(pb::ListPendingApprovalsResponse {
                approvals: approvals
                    .into_iter()
                    .map(convert::approval_to_proto)
                    .collect(),
                next_page_token: next
                    .map(|n| self.shared.tokens.encode(Kind::Approvals, &key, (n, 0)))
                    .unwrap_or_default(),
            })
        })
    }

    async fn resolve_approval(
        &self,
        request: Request<pb::ResolveApprovalRequest>,
    ) -> Result<Response<pb::PendingApproval>, Status> {
        // As `rpc!`, but the store also learns whether the caller holds `api:approve`.
        let started = std::time::Instant::now();
        let result = async {
            let (access, may_resolve_own) = self
                .shared
                .caller_holding(&request, Scope::Write, Scope::Approve)
                .await?;
            let req = request.into_inner();
            if req.approval_id.is_empty() {
                return Err(Error::invalid("approval_id", "is required"));
            }
            let decision = convert::decision("decision", req.decision)?;
            Ok(convert::approval_to_proto(
                self.shared
                    .store
                    .resolve_approval(access, req.approval_id, decision, may_resolve_own)
                    .await?,
            ))
        }
        .await;
        super::finish(started, result)
    }
}
