//! `codelab.agent.v1.SessionService`.

use super::convert::{self, MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS};
use super::{Shared, rpc};
use crate::auth::Scope;
use crate::error::Error;
use crate::model::NewSession;
use crate::page_token::Kind;
use crate::store::{MessageQuery, PagePosition, SessionCursor, SessionQuery};
use codelab_proto::agent::v1 as pb;
use codelab_proto::agent::v1::session_service_server::SessionService;
use tonic::{Request, Response, Status};

/// The SessionService implementation.
#[derive(Clone, Debug)]
pub struct SessionApi {
    shared: Shared,
}

impl SessionApi {
    /// The service over `shared`.
    pub fn new(shared: Shared) -> SessionApi {
        SessionApi { shared }
    }
}

fn flag(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

#[tonic::async_trait]
impl SessionService for SessionApi {
    async fn create_session(
        &self,
        request: Request<pb::CreateSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        rpc!(self.shared, request, Scope::Write, |access, req| {
            let new = NewSession {
                session_id: convert::new_session_id("session_id", &req.session_id)?,
                title: convert::text("title", &req.title, MAX_TITLE_CHARS)?,
                description: convert::text("description", &req.description, MAX_DESCRIPTION_CHARS)?,
                metadata_json: convert::json_object("metadata_json", &req.metadata_json)?,
            };
            Ok(convert::session_to_proto(
                self.shared.store.create_session(access, new).await?,
            ))
        })
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        rpc!(self.shared, request, Scope::Read, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            Ok(convert::session_to_proto(
                self.shared
                    .store
                    .get_session(access, id, req.include_deleted)
                    .await?,
            ))
        })
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        rpc!(self.shared, request, Scope::Read, |access, req| {
            let page_size = convert::page_size("page_size", req.page_size)?;
            let query_key = [
                access.subject.as_str(),
                flag(req.include_deleted),
                flag(req.active_only),
            ];
            let after = self
                .shared
                .decode_token(&req.page_token, Kind::Sessions, &query_key)?
                .map(|(micros, id)| {
                    chrono::DateTime::from_timestamp_micros(micros)
                        .map(|last_activity| SessionCursor { last_activity, id })
                        .ok_or_else(|| Error::invalid("page_token", "is malformed"))
                })
                .transpose()?;
            let query = SessionQuery {
                page_size,
                after,
                include_deleted: req.include_deleted,
                active_only: req.active_only,
            };
            let page = self
                .shared
                .store
                .list_sessions(access.clone(), query)
                .await?;
            let next_page_token = page
                .next
                .map(|c| {
                    self.shared.tokens.encode(
                        Kind::Sessions,
                        &query_key,
                        (c.last_activity.timestamp_micros(), c.id),
                    )
                })
                .unwrap_or_default();
            Ok(pb::ListSessionsResponse {
                sessions: page
                    .sessions
                    .into_iter()
                    .map(convert::session_to_proto)
                    .collect(),
                next_page_token,
                total_size: page.total_size,
            })
        })
    }

    async fn delete_session(
        &self,
        request: Request<pb::DeleteSessionRequest>,
    ) -> Result<Response<pb::DeleteSessionResponse>, Status> {
        rpc!(self.shared, request, Scope::Write, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            let session = self
                .shared
                .store
                .delete_session(access, id, req.hard)
                .await?;
            Ok(pb::DeleteSessionResponse {
                session: session.map(convert::session_to_proto),
            })
        })
    }

    async fn undelete_session(
        &self,
        request: Request<pb::UndeleteSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        rpc!(self.shared, request, Scope::Write, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            Ok(convert::session_to_proto(
                self.shared.store.undelete_session(access, id).await?,
            ))
        })
    }

    async fn append_messages(
        &self,
        request: Request<pb::AppendMessagesRequest>,
    ) -> Result<Response<pb::AppendMessagesResponse>, Status> {
        rpc!(self.shared, request, Scope::Write, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            if req.messages.is_empty() {
                return Err(Error::invalid(
                    "messages",
                    "at least one message is required",
                ));
            }
            let limits = &self.shared.limits;
            let messages = convert::messages(
                req.messages,
                limits.max_messages_per_append,
                limits.max_message_bytes,
            )?;
            let messages = self.shared.counter.fill_missing(messages).await?;
            let appended = self
                .shared
                .store
                .append_messages(access, id, messages, req.create_if_missing)
                .await?;
            Ok(pb::AppendMessagesResponse {
                first_seq: appended.first_seq,
                last_seq: appended.last_seq,
                session: Some(convert::session_to_proto(appended.session)),
            })
        })
    }

    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        rpc!(self.shared, request, Scope::Read, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            let page_size = convert::page_size("page_size", req.page_size)?;
            let role = convert::role_filter("role", req.role)?;
            if req.page < 0 {
                return Err(Error::invalid("page", "must be 1 or more (0 = first page)"));
            }
            let role_key = role.map_or("", |r| r.as_str());
            let query_key = [id.as_str(), flag(req.reverse), role_key];
            let position =
                match self
                    .shared
                    .decode_token(&req.page_token, Kind::Messages, &query_key)?
                {
                    Some((seq, _)) => PagePosition::After(seq),
                    None if req.page > 1 => PagePosition::Page(i64::from(req.page)),
                    None => PagePosition::Start,
                };
            let query = MessageQuery {
                page_size,
                position,
                reverse: req.reverse,
                role,
            };
            let page = self
                .shared
                .store
                .list_messages(access, id.clone(), query)
                .await?;
            let next_page_token = page
                .next_after
                .map(|seq| {
                    self.shared
                        .tokens
                        .encode(Kind::Messages, &query_key, (seq, 0))
                })
                .unwrap_or_default();
            Ok(pb::ListMessagesResponse {
                messages: page
                    .messages
                    .into_iter()
                    .map(convert::message_to_proto)
                    .collect(),
                next_page_token,
                total_size: page.total_size,
            })
        })
    }

    async fn pop_last_message(
        &self,
        request: Request<pb::PopLastMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        rpc!(self.shared, request, Scope::Write, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            Ok(convert::message_to_proto(
                self.shared.store.pop_last_message(access, id).await?,
            ))
        })
    }

    async fn fork_session(
        &self,
        request: Request<pb::ForkSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        rpc!(self.shared, request, Scope::Write, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            let new_id = convert::new_session_id("new_session_id", &req.new_session_id)?;
            if req.up_to_seq < 0 {
                return Err(Error::invalid("up_to_seq", "must not be negative"));
            }
            Ok(convert::session_to_proto(
                self.shared
                    .store
                    .fork_session(access, id, req.up_to_seq, new_id)
                    .await?,
            ))
        })
    }

    async fn get_session_stats(
        &self,
        request: Request<pb::GetSessionStatsRequest>,
    ) -> Result<Response<pb::SessionStats>, Status> {
        rpc!(self.shared, request, Scope::Read, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            let stats = self.shared.store.session_stats(access, id).await?;
            Ok(pb::SessionStats {
                session_id: stats.session.session_id,
                message_count: stats.session.message_count,
                total_tokens: stats.total_tokens,
                messages_by_role: stats
                    .messages_by_role
                    .into_iter()
                    .map(|(r, n)| (r.as_str().to_owned(), n))
                    .collect(),
                created_at: Some(convert::to_timestamp(stats.session.created_at)),
                last_activity: Some(convert::to_timestamp(stats.session.last_activity)),
                last_message_at: stats.last_message_at.map(convert::to_timestamp),
                token_encoding: self.shared.counter.encoding().name().to_owned(),
            })
        })
    }

    async fn save_session(
        &self,
        request: Request<pb::SaveSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        rpc!(self.shared, request, Scope::Write, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            let last_activity = convert::timestamp("last_activity", req.last_activity.as_ref())?;
            convert::not_in_future("last_activity", last_activity)?;
            let limits = &self.shared.limits;
            let messages = convert::messages(
                req.messages,
                limits.max_messages_per_save,
                limits.max_message_bytes,
            )?;
            let messages = self.shared.counter.fill_missing(messages).await?;
            let saved = self
                .shared
                .store
                .save_session(access, id, messages, last_activity)
                .await?;
            Ok(convert::session_to_proto(saved.session))
        })
    }

    async fn load_session(
        &self,
        request: Request<pb::LoadSessionRequest>,
    ) -> Result<Response<pb::LoadSessionResponse>, Status> {
        rpc!(self.shared, request, Scope::Read, |access, req| {
            let id = convert::session_id("session_id", &req.session_id)?;
            let (session, messages) = self.shared.store.load_session(access, id).await?;
            Ok(pb::LoadSessionResponse {
                session_id: session.session_id,
                messages: messages
                    .into_iter()
                    .map(convert::message_to_proto)
                    .collect(),
                last_activity: Some(convert::to_timestamp(session.last_activity)),
                created_at: Some(convert::to_timestamp(session.created_at)),
            })
        })
    }

    async fn cleanup_sessions(
        &self,
        request: Request<pb::CleanupSessionsRequest>,
    ) -> Result<Response<pb::CleanupSessionsResponse>, Status> {
        rpc!(self.shared, request, Scope::Admin, |_access, req| {
            if req.inactive_hours < 0 {
                return Err(Error::invalid("inactive_hours", "must not be negative"));
            }
            if req.purge_deleted_days < 0 {
                return Err(Error::invalid("purge_deleted_days", "must not be negative"));
            }
            let dry_run = req.dry_run.unwrap_or(true);
            let report = self
                .shared
                .store
                .cleanup_sessions(
                    i64::from(req.inactive_hours),
                    i64::from(req.purge_deleted_days),
                    dry_run,
                )
                .await?;
            Ok(pb::CleanupSessionsResponse {
                soft_deleted: report.soft_deleted,
                purged: report.purged,
                dry_run,
            })
        })
    }
}
