//! Agent contexts and agent switches: which agent is in charge of a session, and the history of
//! hand-overs.

use super::Store;
use super::limits::{ChunkRow, READ_CHUNK, ResponseBudget};
use super::queries::{INSERT_CHUNK, live_session, touch_session};
use super::rows::SessionRow;
use crate::error::{Error, Result};
use crate::model::{Access, AgentContext, AgentHistoryEntry, AgentSwitch};
use crate::schema::{agent_contexts, agent_switches};
use chrono::NaiveDateTime;
use db_core::Conn;
use db_core::sql_types::JsonText;
use db_core::timestamp::{naive, now, utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = agent_contexts)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct AgentContextRow {
    pub id: i64,
    pub current_agent: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub switch_count: i32,
    pub metadata_json: Option<JsonText>,
}

impl AgentContextRow {
    fn into_context(self, session_id: String) -> AgentContext {
        AgentContext {
            session_id,
            current_agent: self.current_agent,
            switch_count: self.switch_count,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
            metadata_json: self.metadata_json.map(|j| j.0),
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = agent_contexts)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct NewAgentContextRow {
    pub session_db_id: i64,
    pub current_agent: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub switch_count: i32,
    pub metadata_json: Option<JsonText>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = agent_switches)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct AgentSwitchRow {
    pub id: i64,
    pub from_agent: Option<String>,
    pub to_agent: String,
    pub switched_at: NaiveDateTime,
    pub reason: Option<String>,
    pub metadata_json: Option<JsonText>,
}

impl AgentSwitchRow {
    fn into_switch(self) -> AgentSwitch {
        AgentSwitch {
            id: self.id,
            from_agent: self.from_agent,
            to_agent: self.to_agent,
            reason: self.reason,
            metadata_json: self.metadata_json.map(|j| j.0),
            switched_at: utc(self.switched_at),
        }
    }
}

impl ChunkRow for AgentSwitchRow {
    type Item = AgentSwitch;

    fn key(&self) -> i64 {
        self.id
    }

    /// Bytes of text and JSON this switch carries (see `SessionLimits::max_response_bytes`).
    fn answer_bytes(&self) -> usize {
        self.from_agent.as_ref().map_or(0, String::len)
            + self.to_agent.len()
            + self.reason.as_ref().map_or(0, String::len)
            + self.metadata_json.as_ref().map_or(0, |j| j.0.len())
    }

    fn into_item(self) -> Result<AgentSwitch> {
        Ok(self.into_switch())
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = agent_switches)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct NewAgentSwitchRow {
    pub context_db_id: i64,
    pub from_agent: Option<String>,
    pub to_agent: String,
    pub switched_at: NaiveDateTime,
    pub reason: Option<String>,
    pub metadata_json: Option<JsonText>,
}

/// The live session `session_id` for `access` and its agent context.
///
/// # Errors
/// As [`live_session`]; `NotFound` (`agent context`) for a session without a context.
async fn session_with_context(
    c: &mut impl Conn,
    access: &Access,
    session_id: &str,
) -> Result<(SessionRow, AgentContextRow)> {
    let session = live_session(c, access, session_id).await?;
    let context = context_of(c, session.id)
        .await?
        .ok_or_else(|| Error::NotFound {
            resource: "agent context",
            id: session_id.to_owned(),
        })?;
    Ok((session, context))
}

/// The agent context row of session row `db_id`, if any.
async fn context_of(c: &mut impl Conn, db_id: i64) -> Result<Option<AgentContextRow>> {
    let row = db_core::on_conn!(c, |c| {
        agent_contexts::table
            .filter(agent_contexts::session_db_id.eq(db_id))
            .select(AgentContextRow::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(row)
}

/// Copies session row `from`'s agent context and switches to session row `to`, inside the
/// caller's transaction.
pub(super) async fn copy_agent_context(c: &mut impl Conn, from: i64, to: i64) -> Result<()> {
    let Some(source) = context_of(c, from).await? else {
        return Ok(());
    };
    let copy = NewAgentContextRow {
        session_db_id: to,
        current_agent: source.current_agent,
        created_at: source.created_at,
        updated_at: source.updated_at,
        switch_count: source.switch_count,
        metadata_json: source.metadata_json,
    };
    db_core::on_conn!(c, |c| {
        let copy_id: i64 = diesel::insert_into(agent_contexts::table)
            .values(copy)
            .returning(agent_contexts::id)
            .get_result(c)
            .await?;
        // Copied inside the database (INSERT … SELECT, in id order so the copies keep the
        // history's order): no switch passes through this process.
        let copied = agent_switches::table
            .filter(agent_switches::context_db_id.eq(source.id))
            .order(agent_switches::id.asc())
            .select((
                copy_id.into_sql::<diesel::sql_types::BigInt>(),
                agent_switches::from_agent,
                agent_switches::to_agent,
                agent_switches::switched_at,
                agent_switches::reason,
                agent_switches::metadata_json,
            ));
        diesel::insert_into(agent_switches::table)
            .values(copied)
            .into_columns((
                agent_switches::context_db_id,
                agent_switches::from_agent,
                agent_switches::to_agent,
                agent_switches::switched_at,
                agent_switches::reason,
                agent_switches::metadata_json,
            ))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// What SwitchAgent asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchRequest {
    /// New agent (validated at the edge).
    pub to_agent: String,
    /// Why.
    pub reason: Option<String>,
    /// JSON object text for the switch record.
    pub metadata_json: Option<String>,
    /// Optimistic check: the current agent must be this ("" = no agent yet).
    pub expected_current_agent: Option<String>,
}

impl Store {
    /// The session's agent context.
    ///
    /// # Errors
    /// `NotFound` for the session, or for the context before the first switch.
    pub async fn get_agent_context(
        &self,
        access: Access,
        session_id: String,
    ) -> Result<AgentContext> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::read_transaction!(conn, |c| {
                let (session, context) = session_with_context(c, &access, &session_id).await?;
                Ok::<_, Error>(context.into_context(session.session_id))
            })
        })
        .await
    }

    /// Hands the session to `request.to_agent` and records the switch; creates the context on
    /// the first switch (`from_agent` empty).
    ///
    /// # Errors
    /// `NotFound`; `FailedPrecondition` (`AGENT_MISMATCH`) when `expected_current_agent` is set
    /// and differs from the current agent; `FailedPrecondition` (`SESSION_DELETED`).
    pub async fn switch_agent(
        &self,
        access: Access,
        session_id: String,
        request: SwitchRequest,
    ) -> Result<(AgentContext, AgentSwitch)> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::transaction!(conn, |c| {
                let at = now();
                let session = live_session(c, &access, &session_id).await?;
                touch_session(c, session.id, at).await?;
                let existing = context_of(c, session.id).await?;
                let current = existing.as_ref().map_or("", |x| x.current_agent.as_str());
                if let Some(expected) = &request.expected_current_agent
                    && expected != current
                {
                    return Err(Error::FailedPrecondition {
                        reason: "AGENT_MISMATCH",
                        message: format!(
                            "current agent is `{current}`, not the expected `{expected}`"
                        ),
                    });
                }
                let from_agent = existing.as_ref().map(|x| x.current_agent.clone());
                let context: AgentContextRow = match existing {
                    None => {
                        diesel::insert_into(agent_contexts::table)
                            .values(NewAgentContextRow {
                                session_db_id: session.id,
                                current_agent: request.to_agent.clone(),
                                created_at: at,
                                updated_at: at,
                                switch_count: 1,
                                metadata_json: None,
                            })
                            .returning(AgentContextRow::as_returning())
                            .get_result(c)
                            .await?
                    }
                    Some(x) => {
                        diesel::update(agent_contexts::table.find(x.id))
                            .set((
                                agent_contexts::current_agent.eq(&request.to_agent),
                                agent_contexts::switch_count.eq(agent_contexts::switch_count + 1),
                                agent_contexts::updated_at.eq(at),
                            ))
                            .returning(AgentContextRow::as_returning())
                            .get_result(c)
                            .await?
                    }
                };
                let switch: AgentSwitchRow = diesel::insert_into(agent_switches::table)
                    .values(NewAgentSwitchRow {
                        context_db_id: context.id,
                        from_agent,
                        to_agent: request.to_agent,
                        switched_at: at,
                        reason: request.reason,
                        metadata_json: request.metadata_json.map(JsonText),
                    })
                    .returning(AgentSwitchRow::as_returning())
                    .get_result(c)
                    .await?;
                Ok((
                    context.into_context(session.session_id),
                    switch.into_switch(),
                ))
            })
        })
        .await
    }

    /// The session's switches, newest first, `page_size` at a time, continuing below
    /// `before_id`. Returns the page and the id to continue below when more follow.
    ///
    /// # Errors
    /// `NotFound`; `FailedPrecondition` (`SESSION_DELETED`).
    pub async fn list_agent_switches(
        &self,
        access: Access,
        session_id: String,
        page_size: i64,
        before_id: Option<i64>,
    ) -> Result<(Vec<AgentSwitch>, Option<i64>)> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::read_transaction!(conn, |c| {
                let session = live_session(c, &access, &session_id).await?;
                let Some(context) = context_of(c, session.id).await? else {
                    return Ok::<_, Error>((Vec::new(), None));
                };
                let mut q = agent_switches::table
                    .filter(agent_switches::context_db_id.eq(context.id))
                    .select(AgentSwitchRow::as_select())
                    .into_boxed();
                if let Some(before) = before_id {
                    q = q.filter(agent_switches::id.lt(before));
                }
                let mut rows: Vec<AgentSwitchRow> = q
                    .order(agent_switches::id.desc())
                    .limit(page_size + 1)
                    .load(c)
                    .await?;
                let next = db_core::page::cut_page(&mut rows, page_size, |r| r.id);
                Ok((
                    rows.into_iter().map(AgentSwitchRow::into_switch).collect(),
                    next,
                ))
            })
        })
        .await
    }

    /// Old-client snapshot write: the context becomes `current_agent` with exactly `history`
    /// as its switches (oldest first); `switch_count` is the history's length.
    ///
    /// # Errors
    /// `NotFound`; `FailedPrecondition` (`SESSION_DELETED`).
    pub async fn save_agent_context(
        &self,
        access: Access,
        session_id: String,
        current_agent: String,
        history: Vec<AgentHistoryEntry>,
        metadata_json: Option<String>,
    ) -> Result<AgentContext> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::transaction!(conn, |c| {
                let at = now();
                let session = live_session(c, &access, &session_id).await?;
                touch_session(c, session.id, at).await?;
                let switch_count = i32::try_from(history.len())
                    .map_err(|_| Error::invalid("agent_history", "too many entries"))?;
                let context: AgentContextRow = match context_of(c, session.id).await? {
                    None => {
                        diesel::insert_into(agent_contexts::table)
                            .values(NewAgentContextRow {
                                session_db_id: session.id,
                                current_agent,
                                created_at: at,
                                updated_at: at,
                                switch_count,
                                metadata_json: metadata_json.map(JsonText),
                            })
                            .returning(AgentContextRow::as_returning())
                            .get_result(c)
                            .await?
                    }
                    Some(x) => {
                        diesel::delete(
                            agent_switches::table.filter(agent_switches::context_db_id.eq(x.id)),
                        )
                        .execute(c)
                        .await?;
                        diesel::update(agent_contexts::table.find(x.id))
                            .set((
                                agent_contexts::current_agent.eq(current_agent),
                                agent_contexts::switch_count.eq(switch_count),
                                agent_contexts::updated_at.eq(at),
                                agent_contexts::metadata_json.eq(metadata_json.map(JsonText)),
                            ))
                            .returning(AgentContextRow::as_returning())
                            .get_result(c)
                            .await?
                    }
                };
                let rows: Vec<NewAgentSwitchRow> = history
                    .into_iter()
                    .map(|h| NewAgentSwitchRow {
                        context_db_id: context.id,
                        from_agent: h.from_agent,
                        to_agent: h.to_agent,
                        switched_at: h.timestamp.map(naive).unwrap_or(at),
                        reason: h.reason,
                        metadata_json: h.metadata_json.map(JsonText),
                    })
                    .collect();
                db_core::insert_rows::<_, NewAgentSwitchRow>(
                    c,
                    agent_switches::table,
                    rows,
                    INSERT_CHUNK,
                )
                .await?;
                Ok::<_, Error>(context.into_context(session.session_id))
            })
        })
        .await
    }

    /// Old-client snapshot read: the context and its switches, oldest first, read
    /// [`READ_CHUNK`](READ_CHUNK) at a time in one snapshot.
    ///
    /// # Errors
    /// `NotFound` for the session or a session without context; `ResponseTooLarge` as soon as
    /// the switches read pass [`SessionLimits::max_response_bytes`](super::SessionLimits) (the
    /// client pages with ListAgentSwitches instead).
    pub async fn load_agent_context(
        &self,
        access: Access,
        session_id: String,
    ) -> Result<(AgentContext, Vec<AgentSwitch>)> {
        let pool = self.pool.clone();
        let budget = self.limits.max_response_bytes;
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::read_transaction!(conn, |c| {
                let (session, context) = session_with_context(c, &access, &session_id).await?;
                let used = context.metadata_json.as_ref().map_or(0, |j| j.0.len());
                let mut budget = ResponseBudget::new(budget, used, "page with ListAgentSwitches");
                let mut switches = Vec::new();
                let mut after = 0i64;
                loop {
                    let rows: Vec<AgentSwitchRow> = agent_switches::table
                        .filter(agent_switches::context_db_id.eq(context.id))
                        .filter(agent_switches::id.gt(after))
                        .order(agent_switches::id.asc())
                        .limit(READ_CHUNK)
                        .select(AgentSwitchRow::as_select())
                        .load(c)
                        .await?;
                    if !budget.take_chunk(rows, &mut after, &mut switches)? {
                        break;
                    }
                }
                Ok::<_, Error>((context.into_context(session.session_id), switches))
            })
        })
        .await
    }
}
