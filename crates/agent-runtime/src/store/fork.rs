//! ForkSession: a new session with a copy of another's first messages and its agent context.

use super::Store;
use super::agents::copy_agent_context;
use super::queries::{insert_session, live_session};
use super::rows::{Counters, NewSessionRow, SessionRow};
use crate::error::{Error, Result};
use crate::model::{Access, NewSession, Role, Session};
use crate::schema::{messages, sessions};
use db_core::timestamp::{DbTimestamp, now};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// The columns of a message a fork copies as they are (all but `id` and `session_db_id`), in
/// the one order its `INSERT … SELECT` names them on both sides.
macro_rules! copied_columns {
    () => {
        (
            messages::seq,
            messages::role,
            messages::content,
            messages::name,
            messages::tool_call_id,
            messages::tool_calls,
            messages::token_count,
            messages::metadata_json,
            messages::timestamp,
        )
    };
}

impl Store {
    /// Copies messages `1..=up_to_seq` (all when 0) and the agent context with its switches
    /// into a new session with the same owner, title, description and metadata. The rows are
    /// copied inside the database (`INSERT … SELECT`), never loaded here.
    ///
    /// # Errors
    /// `NotFound` for the source; `InvalidArgument` (`up_to_seq`) beyond the last message or
    /// negative; `AlreadyExists` when `new_session_id` is taken.
    pub async fn fork_session(
        &self,
        access: Access,
        session_id: String,
        up_to_seq: i64,
        new_session_id: String,
    ) -> Result<Session> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::transaction!(conn, |c| {
                let source = live_session(c, &access, &session_id).await?;
                if up_to_seq < 0 || up_to_seq > source.message_count {
                    return Err(Error::invalid(
                        "up_to_seq",
                        format!(
                            "must be between 0 and {} (the last seq)",
                            source.message_count
                        ),
                    ));
                }
                let upto = if up_to_seq == 0 {
                    source.message_count
                } else {
                    up_to_seq
                };
                let at = now();
                let new = NewSession {
                    session_id: new_session_id,
                    title: source.title.clone(),
                    description: source.description.clone(),
                    metadata_json: source.metadata_json.clone().map(|j| j.0),
                };
                let fork =
                    insert_session(c, NewSessionRow::empty(new, source.owner.clone(), at)).await?;

                // Copied inside the database (INSERT … SELECT): no message passes through
                // this process, whatever the session's length.
                let copied = messages::table
                    .filter(messages::session_db_id.eq(source.id))
                    .filter(messages::seq.le(upto))
                    .select((
                        fork.id.into_sql::<diesel::sql_types::BigInt>(),
                        copied_columns!(),
                    ));
                diesel::insert_into(messages::table)
                    .values(copied)
                    .into_columns((messages::session_db_id, copied_columns!()))
                    .execute(c)
                    .await?;

                // The copy's counters: the source's for a whole copy, else one aggregate per
                // role over the copied range.
                let mut counters = Counters::default();
                let last_at: Option<DbTimestamp>;
                if upto == source.message_count {
                    counters = Counters {
                        count: source.message_count,
                        tokens: source.total_tokens,
                        user: source.user_messages,
                        assistant: source.assistant_messages,
                        system: source.system_messages,
                        tool: source.tool_messages,
                    };
                    last_at = source.last_message_at;
                } else {
                    let per_role: Vec<(String, i64, Option<i64>)> = messages::table
                        .filter(messages::session_db_id.eq(source.id))
                        .filter(messages::seq.le(upto))
                        .group_by(messages::role)
                        .select((
                            messages::role,
                            diesel::dsl::count_star(),
                            diesel::dsl::sum(messages::token_count),
                        ))
                        .load(c)
                        .await?;
                    for (role, count, tokens) in per_role {
                        let role = Role::parse(&role).ok_or_else(|| {
                            Error::Internal(format!("unknown stored role `{role}`"))
                        })?;
                        counters.add(role, 0, count);
                        counters.tokens += tokens.unwrap_or(0);
                    }
                    last_at = messages::table
                        .filter(messages::session_db_id.eq(source.id))
                        .filter(messages::seq.eq(upto))
                        .select(messages::timestamp)
                        .first::<DbTimestamp>(c)
                        .await
                        .optional()?;
                }

                let fork: SessionRow = diesel::update(sessions::table.find(fork.id))
                    .set((
                        sessions::message_count.eq(counters.count),
                        sessions::total_tokens.eq(counters.tokens),
                        sessions::user_messages.eq(counters.user),
                        sessions::assistant_messages.eq(counters.assistant),
                        sessions::system_messages.eq(counters.system),
                        sessions::tool_messages.eq(counters.tool),
                        sessions::last_message_at.eq(last_at),
                    ))
                    .returning(SessionRow::as_returning())
                    .get_result(c)
                    .await?;

                copy_agent_context(c, source.id, fork.id).await?;
                Ok(fork.into_session())
            })
        })
        .await
    }
}
