//! Pending approvals: status filters, decisions, and the approval as a proto message.

use super::time::to_timestamp;
use crate::error::{Error, Result};
use crate::model::{self, ApprovalStatus};
use codelab_proto::agent::v1 as pb;

/// An approval status filter: unspecified means all.
pub fn approval_filter(field: &str, value: i32) -> Result<Option<ApprovalStatus>> {
    match pb::ApprovalStatus::try_from(value) {
        Ok(pb::ApprovalStatus::Unspecified) => Ok(None),
        Ok(pb::ApprovalStatus::Pending) => Ok(Some(ApprovalStatus::Pending)),
        Ok(pb::ApprovalStatus::Approved) => Ok(Some(ApprovalStatus::Approved)),
        Ok(pb::ApprovalStatus::Rejected) => Ok(Some(ApprovalStatus::Rejected)),
        Err(_) => Err(Error::invalid(field, "is not a known ApprovalStatus")),
    }
}

/// A decision: only approved or rejected.
pub fn decision(field: &str, value: i32) -> Result<ApprovalStatus> {
    match pb::ApprovalStatus::try_from(value) {
        Ok(pb::ApprovalStatus::Approved) => Ok(ApprovalStatus::Approved),
        Ok(pb::ApprovalStatus::Rejected) => Ok(ApprovalStatus::Rejected),
        _ => Err(Error::invalid(
            field,
            "must be APPROVAL_STATUS_APPROVED or APPROVAL_STATUS_REJECTED",
        )),
    }
}

/// An approval as a proto message.
pub fn approval_to_proto(a: model::PendingApproval) -> pb::PendingApproval {
    let status = match a.status {
        ApprovalStatus::Pending => pb::ApprovalStatus::Pending,
        ApprovalStatus::Approved => pb::ApprovalStatus::Approved,
        ApprovalStatus::Rejected => pb::ApprovalStatus::Rejected,
    };
    pb::PendingApproval {
        approval_id: a.approval_id,
        session_id: a.session_id,
        call_id: a.call_id,
        tool_name: a.tool_name,
        arguments_json: a.arguments_json.unwrap_or_default(),
        reason: a.reason,
        status: status as i32,
        created_at: Some(to_timestamp(a.created_at)),
        resolved_at: a.resolved_at.map(to_timestamp),
        resolved_by: a.resolved_by.unwrap_or_default(),
    }
}
