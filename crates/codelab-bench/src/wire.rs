//! The load generator's own gRPC caller: unary calls on one HTTP/2 connection, driven by the
//! task that makes them.
//!
//! A tonic `Channel` hands every request to a buffer task, which hands it to the connection
//! task, and hyper waits for each response in a task of its own: several wake-ups between tasks
//! and threads per call before the server has done anything. With one client the load
//! generator's time is in series with the server's, so that cost lands in every latency and rate
//! it reports. Like `h2load`, a [`WireClient`] owns its connection and polls it inside the call
//! itself: the request is written, and the response read, by the calling task. On a 2-core
//! machine one client's CPU per durable append fell from ~125 µs through a `Channel` to ~55–70 µs
//! on one thread, and its rate rose by 10–25 % in runs of the same hour (BENCHMARKS.md).
//!
//! The wire format is gRPC over HTTP/2 (grpc/grpc `doc/PROTOCOL-HTTP2.md`): a POST to
//! `/<package>.<Service>/<Method>` with `content-type: application/grpc` and `te: trailers`,
//! one length-prefixed message each way (a flag byte, 0 = uncompressed, then the length as a
//! big-endian u32), and the outcome in the `grpc-status` / `grpc-message` trailers (or in the
//! headers of a trailers-only response). The HTTP/2 framing, flow control and HPACK are the
//! `h2` crate's; messages are encoded and decoded by prost, statuses parsed by tonic. No
//! compression is offered, so none is accepted.

use std::time::Duration;

use anyhow::Context as _;
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http::header::{CONTENT_TYPE, TE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use tokio::net::TcpStream;
use tonic::{Code, Status};

use codelab::client::{
    AuthInterceptor, CONNECT_TIMEOUT, DEFAULT_DEADLINE, MAX_RESPONSE_BYTES, endpoint,
};

/// Length of the prefix of every gRPC message: the compressed flag and a big-endian u32 length.
const PREFIX_LEN: usize = 5;

/// One HTTP/2 connection to a gRPC server, making one unary call at a time.
///
/// The connection is serviced (frames read and written, PINGs answered) only while a call is
/// in flight, which suits a client that calls without pause and is dropped when done: an idle
/// `WireClient` leaves a server's keepalive PINGs and its graceful-shutdown handshake
/// unanswered until the next call, so drop it rather than keep it idle.
pub struct WireClient {
    send: h2::client::SendRequest<Bytes>,
    /// The connection's I/O, polled during each call; `None` once it has ended.
    connection: Option<h2::client::Connection<TcpStream, Bytes>>,
    /// `host:port` of every request (the scheme is `http`).
    authority: Authority,
    /// `Bearer <token>`, when a token was given.
    authorization: Option<HeaderValue>,
    /// `grpc-timeout` of every request: [`DEFAULT_DEADLINE`] in the header's units.
    timeout: HeaderValue,
    /// Reused for encoding requests.
    buf: BytesMut,
}

impl std::fmt::Debug for WireClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("WireClient")
            .field("authority", &self.authority)
            .field("open", &self.connection.is_some())
            .finish_non_exhaustive()
    }
}

/// A method's request path, `/<package>.<Service>/<Method>`, parsed once (cloning it shares
/// the bytes).
#[derive(Debug, Clone)]
pub struct MethodPath(PathAndQuery);

impl MethodPath {
    /// The path of `method` of `service` (a full name such as `codelab.agent.v1.SessionService`,
    /// as the generated `SERVICE_NAME` constants give it).
    ///
    /// # Errors
    /// When the names hold characters not allowed in a URI path.
    pub fn new(service: &str, method: &str) -> anyhow::Result<MethodPath> {
        PathAndQuery::try_from(format!("/{service}/{method}"))
            .map(MethodPath)
            .with_context(|| format!("`{service}`/`{method}` is not a gRPC method path"))
    }
}

impl WireClient {
    /// Connects to `addr` (`http://host:port` or `host:port`; plaintext HTTP/2 with prior
    /// knowledge, as tonic servers speak it), sending `token` as a bearer token with every call
    /// and [`DEFAULT_DEADLINE`] as every call's deadline.
    ///
    /// # Errors
    /// An invalid address or token, an `https` address (not supported here), or a server that
    /// does not accept the TCP connection and the HTTP/2 handshake within [`CONNECT_TIMEOUT`].
    pub async fn connect(addr: &str, token: Option<&str>) -> anyhow::Result<WireClient> {
        let uri = endpoint(addr)?.uri().clone();
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "`{addr}`: the load generator speaks plaintext HTTP/2 only (http://)"
        );
        let host = uri.host().context("the address has no host")?;
        let port = uri.port_u16().unwrap_or(80);
        let authorization = AuthInterceptor::new(token, DEFAULT_DEADLINE)?
            .authorization()
            .map(|v| HeaderValue::from_bytes(v.as_bytes()))
            .transpose()
            .context("the token contains characters not allowed in a gRPC header")?;
        let host_for_connect = host.trim_start_matches('[').trim_end_matches(']');
        let (send, connection) = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let tcp = TcpStream::connect((host_for_connect, port)).await?;
            tcp.set_nodelay(true)?;
            h2::client::Builder::new()
                // Room for the largest response without waiting for window updates.
                .initial_window_size(4 * 1024 * 1024)
                .initial_connection_window_size(8 * 1024 * 1024)
                .max_frame_size(1024 * 1024)
                .handshake::<_, Bytes>(tcp)
                .await
                .map_err(std::io::Error::other)
        })
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {CONNECT_TIMEOUT:?}"))
        .and_then(|r| r.map_err(anyhow::Error::from))
        .with_context(|| format!("cannot connect to {addr}"))?;
        Ok(WireClient {
            send,
            connection: Some(connection),
            authority: uri.authority().context("the address has no host")?.clone(),
            authorization,
            timeout: grpc_timeout(DEFAULT_DEADLINE),
            buf: BytesMut::with_capacity(4096),
        })
    }

    /// Calls `path` with `request` and decodes its response, within [`DEFAULT_DEADLINE`].
    ///
    /// # Errors
    /// The server's status when it is not OK; `DEADLINE_EXCEEDED` when no answer came within
    /// the deadline; `UNAVAILABLE` when the connection is closed or breaks; `INTERNAL` for a
    /// response that is not a well-formed gRPC response (no `grpc-status`, a compressed or cut
    /// message, one larger than [`MAX_RESPONSE_BYTES`]); an HTTP error status mapped as gRPC
    /// clients map it (404 → `UNIMPLEMENTED`, 503 → `UNAVAILABLE`, …).
    pub async fn unary<Req, Resp>(
        &mut self,
        path: &MethodPath,
        request: &Req,
    ) -> Result<Resp, Status>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        let head = self.head(path);
        let len = u32::try_from(request.encoded_len())
            .map_err(|_| Status::invalid_argument("request larger than 4 GiB"))?;
        self.buf.reserve(PREFIX_LEN + len as usize);
        self.buf.put_u8(0);
        self.buf.put_u32(len);
        request
            .encode(&mut self.buf)
            .map_err(|e| Status::internal(format!("encoding the request: {e}")))?;
        let body = self.buf.split().freeze();
        let call = call::<Resp>(self.send.clone(), head, body);
        let Some(connection) = self.connection.as_mut() else {
            return Err(Status::unavailable("the connection has closed"));
        };
        let outcome = tokio::select! {
            biased;
            r = tokio::time::timeout(DEFAULT_DEADLINE, call) => Some(r),
            ended = connection => {
                tracing::debug!(?ended, "bench connection ended");
                None
            }
        };
        match outcome {
            Some(Ok(result)) => result,
            Some(Err(_elapsed)) => Err(Status::deadline_exceeded(format!(
                "no answer within {DEFAULT_DEADLINE:?}"
            ))),
            None => {
                self.connection = None;
                Err(Status::unavailable("the connection has closed"))
            }
        }
    }

    /// The request head: `POST http://<authority><path>` and the gRPC headers.
    fn head(&self, path: &MethodPath) -> Request<()> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path.0.clone());
        let mut head = Request::new(());
        *head.method_mut() = Method::POST;
        // Scheme, authority and path are all set, each already parsed: this cannot fail.
        *head.uri_mut() = Uri::from_parts(parts).unwrap_or_default();
        let headers = head.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert("grpc-timeout", self.timeout.clone());
        if let Some(value) = &self.authorization {
            headers.insert(http::header::AUTHORIZATION, value.clone());
        }
        head
    }
}

/// Sends one request and reads its response; the connection is polled by the caller meanwhile.
async fn call<Resp: prost::Message + Default>(
    send: h2::client::SendRequest<Bytes>,
    head: Request<()>,
    body: Bytes,
) -> Result<Resp, Status> {
    let mut send = send.ready().await.map_err(h2_status)?;
    let (response, mut stream) = send.send_request(head, false).map_err(h2_status)?;
    stream.send_data(body, true).map_err(h2_status)?;
    let response = response.await.map_err(h2_status)?;
    let (parts, mut body) = response.into_parts();
    if parts.status != StatusCode::OK {
        return Err(http_status(parts.status));
    }
    // A trailers-only response carries its status in the headers, and no message.
    if let Some(status) = Status::from_header_map(&parts.headers)
        && status.code() != Code::Ok
    {
        return Err(status);
    }
    let mut chunks: Vec<Bytes> = Vec::with_capacity(1);
    let mut total = 0usize;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(h2_status)?;
        // Returning the capacity lets the server send on; a stream already closed needs none.
        let _ = body.flow_control().release_capacity(chunk.len());
        total += chunk.len();
        if total > MAX_RESPONSE_BYTES + PREFIX_LEN {
            return Err(Status::internal(format!(
                "response larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        chunks.push(chunk);
    }
    let trailers = body.trailers().await.map_err(h2_status)?;
    let status = trailers
        .as_ref()
        .and_then(Status::from_header_map)
        .or_else(|| Status::from_header_map(&parts.headers))
        .ok_or_else(|| Status::internal("the response has no grpc-status"))?;
    if status.code() != Code::Ok {
        return Err(status);
    }
    // Most responses arrive in one DATA frame: decode that without copying.
    let mut data = match chunks.len() {
        1 => chunks.swap_remove(0),
        _ => Bytes::from(chunks.concat()),
    };
    decode_message(&mut data)
}

/// Decodes the one length-prefixed message of a unary response.
fn decode_message<Resp: prost::Message + Default>(data: &mut Bytes) -> Result<Resp, Status> {
    if data.len() < PREFIX_LEN {
        return Err(Status::internal("the response has no message"));
    }
    let compressed = data.get_u8();
    let len = data.get_u32() as usize;
    if compressed != 0 {
        return Err(Status::internal(
            "the response is compressed, which this client did not offer",
        ));
    }
    if data.len() != len {
        return Err(Status::internal(format!(
            "the response message is {} bytes, its prefix says {len}",
            data.len()
        )));
    }
    Resp::decode(data).map_err(|e| Status::internal(format!("decoding the response: {e}")))
}

/// `grpc-timeout` for `d`: at most 8 digits, in the finest unit that fits (PROTOCOL-HTTP2.md).
fn grpc_timeout(d: Duration) -> HeaderValue {
    let micros = d.as_micros();
    let value = if micros < 100_000_000 {
        format!("{micros}u")
    } else if d.as_millis() < 100_000_000 {
        format!("{}m", d.as_millis())
    } else {
        format!("{}S", d.as_secs().min(99_999_999))
    };
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("30S"))
}

/// The gRPC status of an HTTP/2 error: a refused or reset stream, or a broken connection.
fn h2_status(e: h2::Error) -> Status {
    if let Some(reason) = e.reason() {
        let code = match reason {
            h2::Reason::REFUSED_STREAM => Code::Unavailable,
            h2::Reason::CANCEL => Code::Cancelled,
            h2::Reason::ENHANCE_YOUR_CALM => Code::ResourceExhausted,
            h2::Reason::INADEQUATE_SECURITY => Code::PermissionDenied,
            _ if e.is_go_away() => Code::Unavailable,
            _ => Code::Internal,
        };
        return Status::new(code, format!("HTTP/2: {e}"));
    }
    Status::unavailable(format!("HTTP/2: {e}"))
}

/// The gRPC status of a non-200 HTTP response, as grpc/grpc `doc/http-grpc-status-mapping.md`
/// maps it.
fn http_status(status: StatusCode) -> Status {
    let code = match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    };
    Status::new(code, format!("HTTP status {status}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_paths_are_checked_once() {
        let path = MethodPath::new("codelab.agent.v1.SessionService", "AppendMessages").unwrap();
        assert_eq!(
            path.0.as_str(),
            "/codelab.agent.v1.SessionService/AppendMessages"
        );
        assert!(MethodPath::new("codelab agent", "Append Messages").is_err());
    }

    #[test]
    fn grpc_timeout_uses_at_most_eight_digits() {
        assert_eq!(grpc_timeout(Duration::from_secs(30)), "30000000u");
        assert_eq!(grpc_timeout(Duration::from_secs(3600)), "3600000m");
        assert_eq!(grpc_timeout(Duration::from_secs(10_000_000)), "10000000S");
    }

    #[test]
    fn decodes_one_prefixed_message_and_refuses_cut_or_compressed_ones() {
        let msg = prost_types::Duration {
            seconds: 7,
            nanos: 0,
        };
        let mut buf = BytesMut::new();
        buf.put_u8(0);
        buf.put_u32(u32::try_from(prost::Message::encoded_len(&msg)).unwrap());
        prost::Message::encode(&msg, &mut buf).unwrap();
        let whole = buf.freeze();
        let got: prost_types::Duration = decode_message(&mut whole.clone()).unwrap();
        assert_eq!(got.seconds, 7);

        let mut cut = whole.slice(..whole.len() - 1);
        let err = decode_message::<prost_types::Duration>(&mut cut).unwrap_err();
        assert_eq!(err.code(), Code::Internal);

        let mut compressed = BytesMut::from(&whole[..]);
        compressed[0] = 1;
        let err = decode_message::<prost_types::Duration>(&mut compressed.freeze()).unwrap_err();
        assert!(err.message().contains("compressed"), "{err:?}");

        let err = decode_message::<prost_types::Duration>(&mut Bytes::new()).unwrap_err();
        assert_eq!(err.code(), Code::Internal);
    }

    #[test]
    fn maps_http_and_h2_failures_to_grpc_codes() {
        assert_eq!(
            http_status(StatusCode::NOT_FOUND).code(),
            Code::Unimplemented
        );
        assert_eq!(
            http_status(StatusCode::SERVICE_UNAVAILABLE).code(),
            Code::Unavailable
        );
        assert_eq!(http_status(StatusCode::IM_A_TEAPOT).code(), Code::Unknown);
        assert_eq!(
            h2_status(h2::Error::from(h2::Reason::REFUSED_STREAM)).code(),
            Code::Unavailable
        );
        assert_eq!(
            h2_status(h2::Error::from(h2::Reason::CANCEL)).code(),
            Code::Cancelled
        );
    }
}
