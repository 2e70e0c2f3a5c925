//! `codelab.auth.v1.UserService`.

use super::{Shared, convert, rpc};
use crate::error::{Error, Result};
use crate::model::{
    Audit, AuditEvent, DEFAULT_SCOPES, NewUser, RequestContext, Scopes, UserUpdate,
};
use crate::oauth::Caller;
use crate::store::UserRecord;
use access_token::Scope;
use codelab_proto::auth::v1 as pb;
use codelab_proto::auth::v1::user_service_server::UserService;
use tonic::{Request, Response, Status};

/// The UserService implementation.
#[derive(Clone, Debug)]
pub struct UserApi {
    shared: Shared,
}

impl UserApi {
    /// The service over `shared`.
    pub fn new(shared: Shared) -> UserApi {
        UserApi { shared }
    }

    /// The user `user_id` (empty = the caller) if the caller may see it; others are
    /// `NOT_FOUND` unless the caller has api:admin.
    async fn visible_user(&self, caller: &Caller, user_id: &str) -> Result<UserRecord> {
        let id = if user_id.is_empty() {
            if caller.username.is_none() {
                return Err(Error::FailedPrecondition {
                    reason: "NOT_A_USER_TOKEN",
                    message: "a client_credentials token has no user; give user_id".to_owned(),
                });
            }
            caller.sub.clone()
        } else {
            user_id.to_owned()
        };
        if !caller.is_admin() && id != caller.sub {
            return Err(Error::not_found("user", id));
        }
        self.shared
            .store
            .user_by_id(id.clone())
            .await?
            .ok_or_else(|| Error::not_found("user", id))
    }

    /// Opens a request on one user. Returns the caller (holding api:admin when `admin_only`,
    /// and then the request must name the user), where the call came from, the request, and
    /// the user it names as [`UserApi::visible_user`] finds it.
    async fn on_user<T: NamesUser>(
        &self,
        request: Request<T>,
        admin_only: bool,
    ) -> Result<(Caller, RequestContext, T, UserRecord)> {
        let caller = if admin_only {
            self.shared.caller_with(&request, Scope::Admin).await?
        } else {
            self.shared.caller(&request).await?
        };
        let context = self.shared.context(&request);
        let req = request.into_inner();
        if admin_only {
            require_user_id(req.user_id())?;
        }
        let user = self.visible_user(&caller, req.user_id()).await?;
        Ok((caller, context, req, user))
    }
}

/// A request whose `user_id` names the user it acts on (empty = the caller).
trait NamesUser {
    fn user_id(&self) -> &str;
}

macro_rules! names_user {
    ($($request:ty),* $(,)?) => {
        $(impl NamesUser for $request {
            fn user_id(&self) -> &str {
                &self.user_id
            }
        })*
    };
}

names_user!(
    pb::UpdateUserRequest,
    pb::ChangePasswordRequest,
    pb::DisableUserRequest,
    pb::UnlockUserRequest,
    pb::DeleteUserRequest,
);

/// Refuses an empty `user_id` where the request must name its user.
fn require_user_id(user_id: &str) -> Result<()> {
    if user_id.is_empty() {
        return Err(Error::invalid("user_id", "is required"));
    }
    Ok(())
}

/// The audit entry of `caller` acting on `user` (successfully) with `event`.
fn acting_on(
    event: AuditEvent,
    context: &RequestContext,
    caller: &Caller,
    user: &UserRecord,
) -> Audit {
    Audit::new(event, true, context)
        .user(Some(user.id), user.username.clone())
        .detail("by", caller.name())
}

/// Refuses an administrator acting on their own account where that would lock them out.
fn not_self(caller: &Caller, user: &UserRecord, what: &str) -> Result<()> {
    if caller.sub == user.user_id {
        return Err(Error::FailedPrecondition {
            reason: "CANNOT_TARGET_SELF",
            message: format!("you cannot {what} your own account"),
        });
    }
    Ok(())
}

#[tonic::async_trait]
impl UserService for UserApi {
    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        rpc!(async {
            let caller = if self.shared.allow_registration {
                if request.metadata().contains_key("authorization") {
                    Some(self.shared.caller(&request).await?)
                } else {
                    None
                }
            } else {
                Some(self.shared.caller_with(&request, Scope::Admin).await?)
            };
            let admin = caller.as_ref().is_some_and(Caller::is_admin);
            let context = self.shared.context(&request);
            let req = request.into_inner();
            let username = convert::username(&req.username)?;
            let email = convert::email(&req.email)?;
            let password = convert::new_password("password", &req.password)?;
            let scopes = if req.scopes.is_empty() {
                Scopes::parse(DEFAULT_SCOPES).expect("known scopes")
            } else if admin {
                convert::scopes("scopes", &req.scopes)?
            } else {
                return Err(Error::PermissionDenied(Scope::Admin.as_str()));
            };
            let new = NewUser {
                username: username.clone(),
                email,
                password_hash: self.shared.passwords.hash(&password).await?,
                scopes,
                is_verified: false,
            };
            let by = caller.map_or_else(|| "registration".to_owned(), |c| c.name());
            let audit = Audit::new(AuditEvent::UserCreated, true, &context)
                .user(None, username)
                .detail("by", by);
            Ok(convert::user(
                self.shared.store.create_user(new, audit).await?,
            ))
        })
    }

    async fn get_current_user(
        &self,
        request: Request<pb::GetCurrentUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        rpc!(async {
            let caller = self.shared.caller(&request).await?;
            Ok(convert::user(
                self.visible_user(&caller, "").await?.to_user(),
            ))
        })
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        rpc!(async {
            let caller = self.shared.caller(&request).await?;
            let req = request.into_inner();
            require_user_id(&req.user_id)?;
            Ok(convert::user(
                self.visible_user(&caller, &req.user_id).await?.to_user(),
            ))
        })
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        rpc!(async {
            self.shared.caller_with(&request, Scope::Admin).await?;
            let req = request.into_inner();
            let page_size = convert::page_size(req.page_size)?;
            let after = convert::decode_page_token("users", &req.page_token)?;
            let (users, next, total) = self.shared.store.list_users(page_size, after).await?;
            Ok(pb::ListUsersResponse {
                users: users.into_iter().map(convert::user).collect(),
                next_page_token: next
                    .map(|id| convert::encode_page_token("users", id))
                    .unwrap_or_default(),
                total_size: total,
            })
        })
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        rpc!(async {
            let (caller, context, req, user) = self.on_user(request, false).await?;
            if (req.scopes.is_some() || req.is_verified.is_some()) && !caller.is_admin() {
                return Err(Error::PermissionDenied(Scope::Admin.as_str()));
            }
            let email = req.email.as_deref().map(convert::email).transpose()?;
            if user.user_id == caller.sub && email.as_ref().is_some_and(|e| *e != user.email) {
                // A stolen access token must not move the account to the thief's address
                // (and from there through a password reset): re-authenticate, counted and
                // audited as ChangePassword's current password is.
                let current = convert::secret(req.current_password);
                if convert::is_empty(&current) {
                    return Err(Error::invalid(
                        "current_password",
                        "is required to change your own email",
                    ));
                }
                self.shared
                    .oauth
                    .check_current_password(&user, &current, &context)
                    .await?;
            }
            let update = UserUpdate {
                email,
                scopes: req
                    .scopes
                    .as_deref()
                    .map(|s| convert::scopes("scopes", s))
                    .transpose()?,
                is_verified: req.is_verified,
            };
            let audit = acting_on(AuditEvent::UserUpdated, &context, &caller, &user);
            Ok(convert::user(
                self.shared
                    .store
                    .update_user(user.user_id, update, audit)
                    .await?,
            ))
        })
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        rpc!(async {
            let (caller, context, req, user) = self.on_user(request, false).await?;
            let new = convert::new_password("new_password", &req.new_password)?;
            if user.user_id == caller.sub {
                let current = convert::secret(req.current_password);
                if convert::is_empty(&current) {
                    return Err(Error::invalid("current_password", "is required"));
                }
                // Counted and audited like a login: a stolen access token must not become
                // an unlimited password oracle.
                self.shared
                    .oauth
                    .check_current_password(&user, &current, &context)
                    .await?;
            }
            let hash = self.shared.passwords.hash(&new).await?;
            let audit = acting_on(AuditEvent::PasswordChanged, &context, &caller, &user);
            let revoked = self.shared.store.set_password(user.id, hash, audit).await?;
            Ok(pb::ChangePasswordResponse {
                revoked_refresh_tokens: revoked,
            })
        })
    }

    async fn disable_user(
        &self,
        request: Request<pb::DisableUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        rpc!(async {
            let (caller, context, req, user) = self.on_user(request, true).await?;
            if !req.enable {
                not_self(&caller, &user, "disable")?;
            }
            let event = if req.enable {
                AuditEvent::UserEnabled
            } else {
                AuditEvent::UserDisabled
            };
            let audit = acting_on(event, &context, &caller, &user);
            Ok(convert::user(
                self.shared
                    .store
                    .set_user_active(user.user_id, req.enable, audit)
                    .await?,
            ))
        })
    }

    async fn unlock_user(
        &self,
        request: Request<pb::UnlockUserRequest>,
    ) -> Result<Response<pb::UnlockUserResponse>, Status> {
        rpc!(async {
            let (caller, context, _, user) = self.on_user(request, true).await?;
            let audit = acting_on(AuditEvent::UserUnlocked, &context, &caller, &user);
            let (was_locked, cleared_failures) = self
                .shared
                .store
                .unlock_attempts(format!("user:{}", user.username.to_lowercase()), audit)
                .await?;
            Ok(pb::UnlockUserResponse {
                was_locked,
                cleared_failures,
            })
        })
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::DeleteUserResponse>, Status> {
        rpc!(async {
            let (caller, context, _, user) = self.on_user(request, true).await?;
            not_self(&caller, &user, "delete")?;
            let audit = Audit::new(AuditEvent::UserDeleted, true, &context)
                .user(None, user.username.clone())
                .detail("user_id", user.user_id.clone())
                .detail("by", caller.name());
            self.shared.store.delete_user(user.user_id, audit).await?;
            Ok(pb::DeleteUserResponse {})
        })
    }
}
