//! Calls several test files make the same way: a session's agent context, its approvals, and
//! the page token after the first row of a list.

use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use tonic::{Response, Status};

/// GetAgentContext of session `session_id`.
pub async fn agent_context(
    a: &mut Agents,
    session_id: &str,
) -> Result<Response<pb::AgentContext>, Status> {
    a.get_agent_context(pb::GetAgentContextRequest {
        session_id: session_id.into(),
    })
    .await
}

/// The first page (default size) of session `session_id`'s approvals of every status.
pub async fn all_approvals(
    a: &mut Approvals,
    session_id: &str,
) -> pb::ListPendingApprovalsResponse {
    a.list_pending_approvals(pb::ListPendingApprovalsRequest {
        session_id: session_id.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

/// LoadAgentContext of session `session_id`.
pub async fn load_context(
    a: &mut Agents,
    session_id: &str,
) -> Result<Response<pb::LoadAgentContextResponse>, Status> {
    a.load_agent_context(pb::LoadAgentContextRequest {
        session_id: session_id.into(),
    })
    .await
}

/// The page token a list RPC returns after the first row of session `$session` (one row a
/// page), as in `page_token_after_first!(s.list_messages(ListMessagesRequest), "s")`: every
/// list of a session's rows pages alike, each with its own request type.
macro_rules! page_token_after_first {
    ($client:ident.$rpc:ident($request:ident), $session:expr) => {
        $client
            .$rpc(codelab_proto::agent::v1::$request {
                session_id: $session.into(),
                page_size: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .next_page_token
    };
}
pub(crate) use page_token_after_first;
