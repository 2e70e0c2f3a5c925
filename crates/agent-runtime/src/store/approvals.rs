//! Pending approvals: human-in-the-loop decisions on tool calls.

use super::Store;
use super::queries::{already_exists_on_conflict, live_session, touch_session};
use super::rows::{SessionRow, check_visible};
use crate::error::{Error, Result};
use crate::model::{Access, ApprovalStatus, NewApproval, PendingApproval};
use crate::schema::{pending_approvals, sessions};
use chrono::NaiveDateTime;
use db_core::sql_types::JsonText;
use db_core::timestamp::{now, utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pending_approvals)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct ApprovalRow {
    id: i64,
    approval_id: String,
    call_id: String,
    tool_name: String,
    arguments_json: Option<JsonText>,
    reason: String,
    status: String,
    created_at: NaiveDateTime,
    resolved_at: Option<NaiveDateTime>,
    resolved_by: Option<String>,
    requested_by: Option<String>,
}

impl ApprovalRow {
    fn into_approval(self, session_id: String) -> Result<PendingApproval> {
        let status = ApprovalStatus::parse(&self.status).ok_or_else(|| {
            Error::Internal(format!(
                "stored approval has unknown status `{}`",
                self.status
            ))
        })?;
        Ok(PendingApproval {
            approval_id: self.approval_id,
            session_id,
            call_id: self.call_id,
            tool_name: self.tool_name,
            arguments_json: self.arguments_json.map(|j| j.0),
            reason: self.reason,
            status,
            created_at: utc(self.created_at),
            resolved_at: self.resolved_at.map(utc),
            resolved_by: self.resolved_by,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = pending_approvals)]
#[diesel(treat_none_as_default_value = false)]
struct NewApprovalRow {
    approval_id: String,
    session_db_id: i64,
    call_id: String,
    tool_name: String,
    arguments_json: Option<JsonText>,
    reason: String,
    status: &'static str,
    created_at: NaiveDateTime,
    requested_by: String,
}

impl Store {
    /// Records a tool call waiting for a decision, requested by `access.subject`; its id is a
    /// new UUIDv7.
    ///
    /// # Errors
    /// `NotFound`; `FailedPrecondition` (`SESSION_DELETED`); `AlreadyExists` when the session
    /// already has an approval for `call_id`.
    pub async fn create_approval(
        &self,
        access: Access,
        session_id: String,
        new: NewApproval,
    ) -> Result<PendingApproval> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::transaction!(conn, |c| {
                let at = now();
                let session = live_session(c, &access, &session_id).await?;
                touch_session(c, session.id, at).await?;
                let call_id = new.call_id.clone();
                let row: ApprovalRow = diesel::insert_into(pending_approvals::table)
                    .values(NewApprovalRow {
                        approval_id: uuid::Uuid::now_v7().to_string(),
                        session_db_id: session.id,
                        call_id: new.call_id,
                        tool_name: new.tool_name,
                        arguments_json: new.arguments_json.map(JsonText),
                        reason: new.reason,
                        status: ApprovalStatus::Pending.as_str(),
                        created_at: at,
                        requested_by: access.subject.clone(),
                    })
                    .returning(ApprovalRow::as_returning())
                    .get_result(c)
                    .await
                    .map_err(already_exists_on_conflict("approval", &call_id))?;
                row.into_approval(session.session_id)
            })
        })
        .await
    }

    /// The session's approvals, oldest first, optionally of one status, `page_size` at a time
    /// after row `after_id`. Returns the page and the id to continue after when more follow.
    ///
    /// # Errors
    /// `NotFound`; `FailedPrecondition` (`SESSION_DELETED`).
    pub async fn list_approvals(
        &self,
        access: Access,
        session_id: String,
        status: Option<ApprovalStatus>,
        page_size: i64,
        after_id: Option<i64>,
    ) -> Result<(Vec<PendingApproval>, Option<i64>)> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::read_transaction!(conn, |c| {
                let session = live_session(c, &access, &session_id).await?;
                let mut q = pending_approvals::table
                    .filter(pending_approvals::session_db_id.eq(session.id))
                    .select(ApprovalRow::as_select())
                    .into_boxed();
                if let Some(status) = status {
                    q = q.filter(pending_approvals::status.eq(status.as_str()));
                }
                if let Some(after) = after_id {
                    q = q.filter(pending_approvals::id.gt(after));
                }
                let mut rows: Vec<ApprovalRow> = q
                    .order(pending_approvals::id.asc())
                    .limit(page_size + 1)
                    .load(c)
                    .await?;
                let next = db_core::page::cut_page(&mut rows, page_size, |r| r.id);
                let approvals = rows
                    .into_iter()
                    .map(|r| r.into_approval(session.session_id.clone()))
                    .collect::<Result<Vec<_>>>()?;
                Ok::<_, Error>((approvals, next))
            })
        })
        .await
    }

    /// Records the decision (`Approved` or `Rejected`) by `access.subject`.
    ///
    /// Separation of duties: the principal that requested the approval (same `sub`) may
    /// resolve it only when `may_resolve_own` is set — the caller holds `api:approve`, which an
    /// agent's token does not carry. Approvals stored before the requester was recorded have
    /// no requester and any principal who sees the session resolves them.
    ///
    /// # Errors
    /// `NotFound` (unknown approval, or another user's session); `PermissionDenied`
    /// (`SELF_APPROVAL`) for the requester without `may_resolve_own`; `FailedPrecondition`
    /// (`APPROVAL_ALREADY_RESOLVED`) when it was resolved before.
    pub async fn resolve_approval(
        &self,
        access: Access,
        approval_id: String,
        decision: ApprovalStatus,
        may_resolve_own: bool,
    ) -> Result<PendingApproval> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::transaction!(conn, |c| {
                let found: Option<(ApprovalRow, SessionRow)> = pending_approvals::table
                    .inner_join(sessions::table)
                    .filter(pending_approvals::approval_id.eq(&approval_id))
                    .select((ApprovalRow::as_select(), SessionRow::as_select()))
                    .first(c)
                    .await
                    .optional()?;
                let not_found = || Error::NotFound {
                    resource: "approval",
                    id: approval_id.clone(),
                };
                let (approval, session) = found.ok_or_else(not_found)?;
                let visible_id = session.session_id.clone();
                let session =
                    check_visible(Some(session), &access, &visible_id).map_err(|_| not_found())?;
                if !may_resolve_own && approval.requested_by.as_deref() == Some(&access.subject) {
                    return Err(Error::PermissionDenied {
                        reason: "SELF_APPROVAL",
                        message: format!(
                            "approval `{approval_id}` was requested by the caller; it must be \
                             resolved by another principal or with scope api:approve"
                        ),
                    });
                }
                if approval.status != ApprovalStatus::Pending.as_str() {
                    return Err(Error::FailedPrecondition {
                        reason: "APPROVAL_ALREADY_RESOLVED",
                        message: format!("approval `{approval_id}` is already {}", approval.status),
                    });
                }
                // Filtering on the status again makes a concurrent second decision update nothing.
                let row: Option<ApprovalRow> = diesel::update(
                    pending_approvals::table
                        .find(approval.id)
                        .filter(pending_approvals::status.eq(ApprovalStatus::Pending.as_str())),
                )
                .set((
                    pending_approvals::status.eq(decision.as_str()),
                    pending_approvals::resolved_at.eq(Some(now())),
                    pending_approvals::resolved_by.eq(Some(&access.subject)),
                ))
                .returning(ApprovalRow::as_returning())
                .get_result(c)
                .await
                .optional()?;
                let row = row.ok_or_else(|| Error::FailedPrecondition {
                    reason: "APPROVAL_ALREADY_RESOLVED",
                    message: format!("approval `{approval_id}` was resolved concurrently"),
                })?;
                row.into_approval(session.session_id)
            })
        })
        .await
    }
}
