//! Connecting to agent-runtime and auth-service: one tonic [`Channel`], a bearer token and a
//! default deadline.
//!
//! Every request carries a deadline (the API requires one): [`DEFAULT_DEADLINE`] unless the
//! caller set its own `grpc-timeout`. The deadline is both sent to the server (so it can give up
//! too) and enforced locally by the channel.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use codelab_proto::agent::v1::session_service_client::SessionServiceClient;
use codelab_proto::auth::v1::auth_service_client::AuthServiceClient;
use codelab_proto::auth::v1::client_service_client::ClientServiceClient;
use codelab_proto::auth::v1::user_service_client::UserServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// How long establishing the TCP/HTTP2 connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Deadline of a request that did not set its own.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// Largest response accepted, in bytes: a page of 1000 long messages exceeds tonic's 4 MiB
/// default.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Where agent-runtime listens and how to authenticate (shared by every client subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectOpts {
    /// agent-runtime gRPC address.
    #[arg(long, env = "CODELAB_ADDR", default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// Access token (JWT) sent as `authorization: Bearer <token>`, e.g. from `codelab login`.
    /// Prefer the CODELAB_TOKEN variable: a value given with --token is visible to every user
    /// of the machine in the process list and stays in the shell's history.
    #[arg(long, env = "CODELAB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of the CAs trusted for an `https://` address (only these; the Mozilla roots
    /// when unset).
    #[arg(long, env = CA_FILE_ENV)]
    pub ca_file: Option<PathBuf>,
}

/// Environment variable of `--ca-file`.
pub const CA_FILE_ENV: &str = "CODELAB_CA_FILE";

/// Default address of auth-service.
pub const DEFAULT_AUTH_ADDR: &str = "http://127.0.0.1:50052";

/// Where auth-service listens and the caller's token (the `users`, `clients` and `auth`
/// subcommands).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthConnectOpts {
    /// auth-service gRPC address.
    #[arg(long, env = "CODELAB_AUTH_ADDR", default_value = DEFAULT_AUTH_ADDR)]
    pub auth_addr: String,
    /// Access token (JWT) of an administrator (scope api:admin), e.g. from `codelab login`.
    /// Prefer the CODELAB_TOKEN variable: a value given with --token is visible to every user
    /// of the machine in the process list and stays in the shell's history.
    #[arg(long, env = "CODELAB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of the CAs trusted for an `https://` address (only these; the Mozilla roots
    /// when unset).
    #[arg(long, env = CA_FILE_ENV)]
    pub ca_file: Option<PathBuf>,
}

/// Options of the auth-service list subcommands (`users list`, `clients list`): one AIP-158
/// page.
#[derive(Debug, Clone, clap::Args)]
pub struct ListOpts {
    /// Items per page (1–1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub page_size: i32,
    /// Continue from this page (printed under a full page).
    #[arg(long, default_value = "")]
    pub page_token: String,
    /// Print the page as JSON.
    #[arg(long)]
    pub json: bool,
    /// Server and credentials.
    #[command(flatten)]
    pub connect: AuthConnectOpts,
}

/// A channel plus the interceptor that authenticates and sets deadlines, handing out clients.
#[derive(Debug, Clone)]
pub struct Connection {
    channel: Channel,
    interceptor: AuthInterceptor,
}

/// The transport of every generated client made by [`Connection`].
pub type AuthChannel = InterceptedService<Channel, AuthInterceptor>;

impl Connection {
    /// A `SessionService` client on this connection (cheap: clients share the channel).
    pub fn sessions(&self) -> SessionServiceClient<AuthChannel> {
        SessionServiceClient::with_interceptor(self.channel.clone(), self.interceptor.clone())
            .max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    /// An auth-service `AuthService` client on this connection.
    pub fn auth(&self) -> AuthServiceClient<AuthChannel> {
        AuthServiceClient::with_interceptor(self.channel.clone(), self.interceptor.clone())
    }

    /// An auth-service `UserService` client on this connection.
    pub fn users(&self) -> UserServiceClient<AuthChannel> {
        UserServiceClient::with_interceptor(self.channel.clone(), self.interceptor.clone())
    }

    /// An auth-service `ClientService` client on this connection.
    pub fn clients(&self) -> ClientServiceClient<AuthChannel> {
        ClientServiceClient::with_interceptor(self.channel.clone(), self.interceptor.clone())
    }
}

/// Connects to `opts.addr`, waiting at most [`CONNECT_TIMEOUT`].
///
/// # Errors
/// An invalid address or token (not visible ASCII), or a server that does not answer in time.
pub async fn connect(opts: &ConnectOpts) -> anyhow::Result<Connection> {
    connect_to(
        "agent-runtime",
        &opts.addr,
        opts.token.as_deref(),
        opts.ca_file.as_deref(),
    )
    .await
}

/// Connects to auth-service at `opts.auth_addr`, waiting at most [`CONNECT_TIMEOUT`].
///
/// # Errors
/// As [`connect`].
pub async fn connect_auth(opts: &AuthConnectOpts) -> anyhow::Result<Connection> {
    connect_to(
        "auth-service",
        &opts.auth_addr,
        opts.token.as_deref(),
        opts.ca_file.as_deref(),
    )
    .await
}

/// Connects to `service` (named in errors) at `addr`, sending `token` when given; an
/// `https://` address is verified with `ca_file` (see [`secure_endpoint`]).
///
/// # Errors
/// As [`connect`], or a CA file that cannot be used.
pub async fn connect_to(
    service: &str,
    addr: &str,
    token: Option<&str>,
    ca_file: Option<&Path>,
) -> anyhow::Result<Connection> {
    let interceptor = AuthInterceptor::new(token, DEFAULT_DEADLINE)?;
    let endpoint = secure_endpoint(addr, ca_file)?;
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to {service} at {addr}"))?;
    Ok(Connection {
        channel,
        interceptor,
    })
}

/// The endpoint for `addr` with codelab's timeouts; `addr` may omit the `http://` scheme.
///
/// # Errors
/// When `addr` is not a valid URI.
pub fn endpoint(addr: &str) -> anyhow::Result<Endpoint> {
    let uri = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let endpoint =
        Endpoint::from_shared(uri).with_context(|| format!("invalid address `{addr}`"))?;
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(DEFAULT_DEADLINE)
        .tcp_nodelay(true))
}

/// [`endpoint`] with TLS when `addr` is `https://…`: the server's certificate must chain to a
/// CA of `ca_file` (only those) or, without it, to the Mozilla roots.
///
/// # Errors
/// When `addr` is not a valid URI or `ca_file` cannot be read or holds no certificate.
pub fn secure_endpoint(addr: &str, ca_file: Option<&Path>) -> anyhow::Result<Endpoint> {
    let tls = service_kit::client::ClientTls::with_ca(ca_file.map(Path::to_path_buf));
    tls.apply_to_endpoint(endpoint(addr)?)
        .with_context(|| format!("TLS for {addr} (--ca-file / {CA_FILE_ENV})"))
}

/// Adds `authorization: Bearer <token>` (when a token is given) and a `grpc-timeout` deadline
/// (when the request has none) to every request.
#[derive(Clone)]
pub struct AuthInterceptor {
    /// Pre-validated header value, so a bad token fails once at startup, not on every call.
    authorization: Option<MetadataValue<Ascii>>,
    deadline: Duration,
}

impl std::fmt::Debug for AuthInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("AuthInterceptor")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "Bearer ***"),
            )
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl AuthInterceptor {
    /// An interceptor sending `token` (if any) and `deadline` as the default deadline.
    ///
    /// # Errors
    /// When the token contains characters not allowed in a header (it is not a JWT then).
    pub fn new(token: Option<&str>, deadline: Duration) -> anyhow::Result<Self> {
        let authorization = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                MetadataValue::try_from(format!("Bearer {t}"))
                    .context("the token contains characters not allowed in a gRPC header")
            })
            .transpose()?;
        Ok(AuthInterceptor {
            authorization,
            deadline,
        })
    }
}

impl AuthInterceptor {
    /// The `authorization` value sent with every request, `Bearer <token>`, when a token was
    /// given.
    pub fn authorization(&self) -> Option<&MetadataValue<Ascii>> {
        self.authorization.as_ref()
    }
}

impl Interceptor for AuthInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        if !request.metadata().contains_key("grpc-timeout") {
            request.set_timeout(self.deadline);
        }
        Ok(request)
    }
}

/// The canonical upper-snake name of a gRPC status code (`UNAVAILABLE`, `NOT_FOUND` …), as
/// printed by grpcurl and used in reports.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A `tonic::Status` as one readable line: `NOT_FOUND: session x not found`.
pub fn describe(status: &tonic::Status) -> String {
    format!("{}: {}", code_name(status.code()), status.message())
}

/// [`describe`] plus what to do about a missing or refused token: `UNAUTHENTICATED` suggests
/// `codelab login`, `PERMISSION_DENIED` an administrator's token.
pub fn describe_with_hint(status: &tonic::Status) -> String {
    let hint = match status.code() {
        tonic::Code::Unauthenticated => {
            " (get a token with `codelab login` and pass it with --token or CODELAB_TOKEN)"
        }
        tonic::Code::PermissionDenied => " (this needs a token with scope api:admin)",
        _ => "",
    };
    format!("{}{hint}", describe(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interceptor_adds_token_and_deadline() {
        let mut i = AuthInterceptor::new(Some("abc.def"), Duration::from_secs(30)).unwrap();
        let req = i.call(tonic::Request::new(())).unwrap();
        assert_eq!(
            req.metadata().get("authorization").unwrap(),
            "Bearer abc.def"
        );
        assert!(req.metadata().contains_key("grpc-timeout"));
    }

    #[test]
    fn interceptor_keeps_a_callers_deadline_and_sends_no_empty_token() {
        let mut i = AuthInterceptor::new(Some("  "), Duration::from_secs(30)).unwrap();
        let mut req = tonic::Request::new(());
        req.set_timeout(Duration::from_millis(250));
        let req = i.call(req).unwrap();
        assert!(req.metadata().get("authorization").is_none());
        assert_eq!(req.metadata().get("grpc-timeout").unwrap(), "250000u");
    }

    #[test]
    fn bad_token_is_refused_without_echoing_it() {
        let err = AuthInterceptor::new(Some("bad\ntoken"), DEFAULT_DEADLINE).unwrap_err();
        assert!(!format!("{err:#}").contains("bad\ntoken"));
    }

    #[test]
    fn endpoint_accepts_bare_host_port() {
        assert_eq!(
            endpoint("127.0.0.1:50051").unwrap().uri().to_string(),
            "http://127.0.0.1:50051/"
        );
        assert!(endpoint("http://[::1").is_err());
    }
}
