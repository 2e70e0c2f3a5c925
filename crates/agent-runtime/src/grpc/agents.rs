//! `codelab.agent.v1.AgentContextService`.

use super::convert;
use super::{Shared, rpc};
use crate::auth::Scope;
use crate::page_token::Kind;
use crate::store::SwitchRequest;
use codelab_proto::agent::v1 as pb;
use codelab_proto::agent::v1::agent_context_service_server::AgentContextService;
use tonic::{Request, Response, Status};

/// The AgentContextService implementation.
#[derive(Clone, Debug)]
pub struct AgentContextApi {
    shared: Shared,
}

impl AgentContextApi {
    /// The service over `shared`.
    pub fn new(shared: Shared) -> AgentContextApi {
        AgentContextApi { shared }
    }
}

#[tonic::async_trait]
impl AgentContextService for AgentContextApi {
    async fn get_agent_context(
        &self,
        request: Request<pb::GetAgentContextRequest>,
    ) -> Result<Response<pb::AgentContext>, Status> {
        rpc!(self.shared, request, Scope::Read, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            Ok(convert::context_to_proto(
                self.shared.store.get_agent_context(access, id).await?,
            ))
        })
    }

    async fn switch_agent(
        &self,
        request: Request<pb::SwitchAgentRequest>,
    ) -> Result<Response<pb::SwitchAgentResponse>, Status> {
        rpc!(self.shared, request, Scope::Write, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            let expected_current_agent = match req.expected_current_agent {
                Some(e) if e.is_empty() => Some(e),
                Some(e) => Some(convert::agent_name("expected_current_agent", &e)?),
                None => None,
            };
            let switch = SwitchRequest {
                to_agent: convert::agent_name("to_agent", &req.to_agent)?,
                reason: if req.reason.is_empty() {
                    None
                } else {
                    Some(convert::free_text("reason", req.reason)?)
                },
                metadata_json: convert::json_object("metadata_json", &req.metadata_json)?,
                expected_current_agent,
            };
            let (context, switch) = self.shared.store.switch_agent(access, id, switch).await?;
            Ok(pb::SwitchAgentResponse {
                context: Some(convert::context_to_proto(context)),
                r#switch: Some(convert::switch_to_proto(switch)),
            })
        })
    }

    async fn list_agent_switches(
        &self,
        request: Request<pb::ListAgentSwitchesRequest>,
    ) -> Result<Response<pb::ListAgentSwitchesResponse>, Status> {
        rpc!(self.shared, request, Scope::Read, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            let page_size = convert::page_size("page_size", req.page_size)?;
            let key = [id.as_str()];
            let before = self
                .shared
                .decode_token(&req.page_token, Kind::AgentSwitches, &key)?
                .map(|(id, _)| id);
            let (switches, next) = self
                .shared
                .store
                .list_agent_switches(access, id.clone(), page_size, before)
                .await?;
            Ok(pb::ListAgentSwitchesResponse {
                switches: switches.into_iter().map(convert::switch_to_proto).collect(),
                next_page_token: next
                    .map(|n| self.shared.tokens.encode(Kind::AgentSwitches, &key, (n, 0)))
                    .unwrap_or_default(),
            })
        })
    }

    async fn save_agent_context(
        &self,
        request: Request<pb::SaveAgentContextRequest>,
    ) -> Result<Response<pb::AgentContext>, Status> {
        rpc!(self.shared, request, Scope::Write, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            let current = convert::agent_name("current_agent", &req.current_agent)?;
            let history = req
                .agent_history
                .into_iter()
                .enumerate()
                .map(|(i, e)| convert::history_entry(i, e))
                .collect::<Result<Vec<_>, _>>()?;
            let metadata = convert::json_object("metadata_json", &req.metadata_json)?;
            let context = self
                .shared
                .store
                .save_agent_context(access, id, current, history, metadata)
                .await?;
            Ok(convert::context_to_proto(context))
        })
    }

    async fn load_agent_context(
        &self,
        request: Request<pb::LoadAgentContextRequest>,
    ) -> Result<Response<pb::LoadAgentContextResponse>, Status> {
        rpc!(self.shared, request, Scope::Read, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            let (context, switches) = self.shared.store.load_agent_context(access, id).await?;
            Ok(pb::LoadAgentContextResponse {
                session_id: context.session_id,
                current_agent: context.current_agent,
                agent_history: switches
                    .into_iter()
                    .map(convert::switch_to_history)
                    .collect(),
                metadata_json: context.metadata_json.unwrap_or_default(),
                switch_count: context.switch_count,
                created_at: Some(convert::to_timestamp(context.created_at)),
                updated_at: Some(convert::to_timestamp(context.updated_at)),
            })
        })
    }
}
