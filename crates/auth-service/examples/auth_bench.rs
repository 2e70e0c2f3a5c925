//! Benchmark of auth-service and of token verification in agent-runtime.
//!
//! Run: `cargo run --release -p auth-service --example auth_bench` (or `scripts/bench/run.sh
//! auth`). Starts auth-service (OWASP argon2id parameters) and agent-runtime (trusting it through
//! its HTTP JWK Set) on temporary SQLite files in this process, then measures:
//!
//! 1. access-token verifications per second on one core (agent-runtime's `Authenticator`, the
//!    code on every RPC);
//! 2. refresh-grant latency (sequential, each refresh uses the previous answer);
//! 3. password-grant latency;
//! 4. agent-runtime `GetSessionStats` latency with 4 clients, alone and while 8 clients log in
//!    as fast as they can (hashing must stay off the executor).
#![allow(missing_docs)]

use codelab_proto::agent::v1 as apb;
use codelab_proto::auth::v1 as pb;
use hdrhistogram::Histogram;
use secrecy::SecretString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const ADMIN_PASSWORD: &str = "bench-admin-password";

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

async fn connect(addr: std::net::SocketAddr) -> Channel {
    let endpoint = Channel::from_shared(format!("http://{addr}")).unwrap();
    for _ in 0..400 {
        if let Ok(c) = endpoint.connect().await {
            let mut health = tonic_health::pb::health_client::HealthClient::new(c.clone());
            if health
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok_and(|r| r.into_inner().status == 1)
            {
                return c;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} did not come up");
}

fn password_grant() -> pb::TokenRequest {
    login_as("admin", ADMIN_PASSWORD)
}

fn login_as(username: &str, password: &str) -> pb::TokenRequest {
    pb::TokenRequest {
        grant_type: "password".into(),
        client_id: "codelab-cli".into(),
        username: username.into(),
        password: password.into(),
        ..Default::default()
    }
}

async fn stats_latency(
    channel: &Channel,
    token: &str,
    session: &str,
    clients: usize,
    secs: u64,
) -> Histogram<u64> {
    let hist = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (channel, token, session, hist) = (
            channel.clone(),
            token.to_owned(),
            session.to_owned(),
            hist.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut client = apb::session_service_client::SessionServiceClient::new(channel);
            while Instant::now() < until {
                let mut req = tonic::Request::new(apb::GetSessionStatsRequest {
                    session_id: session.clone(),
                });
                req.metadata_mut()
                    .insert("authorization", format!("Bearer {token}").parse().unwrap());
                let t = Instant::now();
                client.get_session_stats(req).await.unwrap();
                hist.lock()
                    .unwrap()
                    .record(t.elapsed().as_micros() as u64)
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(hist).unwrap().into_inner().unwrap()
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let auth_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let auth_addr = auth_listener.local_addr().unwrap();
    let auth_config = auth_service::config::Config {
        db_url: SecretString::from(format!("sqlite:///{}/auth.db", dir.path().display())),
        admin_password: Some(SecretString::from(ADMIN_PASSWORD)),
        key_encryption_key: Some(auth_service::kek::Keks::generate()),
        // The load comes from one address on purpose.
        rate_limit: auth_service::config::RateLimitSettings {
            requests_per_second: 0,
            burst: 0,
        },
        ..Default::default()
    };
    tokio::spawn(auth_service::serve(
        auth_config,
        auth_listener,
        std::future::pending(),
    ));
    let auth_channel = connect(auth_addr).await;
    let mut auth = pb::auth_service_client::AuthServiceClient::new(auth_channel.clone());
    let login = auth.token(password_grant()).await.unwrap().into_inner();

    // 1. Verification throughput on one core.
    let auth_cfg = agent_runtime::auth::AuthConfig {
        jwks_url: Some(format!("http://{auth_addr}/.well-known/jwks.json")),
        ..Default::default()
    };
    let verifier = agent_runtime::auth::Authenticator::from_config(&auth_cfg)
        .await
        .unwrap();
    let token = login.access_token.clone();
    let per_sec = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..1000 {
                verifier.verify(&token).await.unwrap();
            }
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < Duration::from_secs(3) {
                for _ in 0..100 {
                    verifier.verify(&token).await.unwrap();
                }
                n += 100;
            }
            n as f64 / start.elapsed().as_secs_f64()
        })
    })
    .join()
    .unwrap();
    println!(
        "verify (same token, as a client sends it on every RPC): {per_sec:.0} verifications/s on one core"
    );
    // Distinct tokens: every verification checks the RSA-2048 signature.
    let mut distinct = Vec::new();
    for _ in 0..40 {
        let r = auth
            .token(pb::TokenRequest {
                grant_type: "refresh_token".into(),
                client_id: "codelab-cli".into(),
                refresh_token: distinct
                    .last()
                    .map_or(login.refresh_token.clone(), |t: &pb::TokenResponse| {
                        t.refresh_token.clone()
                    }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        distinct.push(r);
    }
    let cold_verifier = agent_runtime::auth::Authenticator::from_config(&auth_cfg)
        .await
        .unwrap();
    let tokens: Vec<String> = distinct.iter().map(|t| t.access_token.clone()).collect();
    let cold = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let start = Instant::now();
            for t in &tokens {
                cold_verifier.verify(t).await.unwrap();
            }
            tokens.len() as f64 / start.elapsed().as_secs_f64()
        })
    })
    .join()
    .unwrap();
    println!(
        "verify (each token for the first time): {cold:.0} verifications/s on one core (RS256, 2048-bit)"
    );

    // 2. Refresh grant latency.
    let mut refresh = distinct.last().expect("40 refreshes").refresh_token.clone();
    let mut hist = Histogram::<u64>::new(3).unwrap();
    for i in 0..520 {
        let t = Instant::now();
        let r = auth
            .token(pb::TokenRequest {
                grant_type: "refresh_token".into(),
                client_id: "codelab-cli".into(),
                refresh_token: refresh.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if i >= 20 {
            hist.record(t.elapsed().as_micros() as u64).unwrap();
        }
        refresh = r.refresh_token;
    }
    println!(
        "refresh grant (SQLite, sequential, n=500): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        ms(&hist, 0.5),
        ms(&hist, 0.9),
        ms(&hist, 0.99)
    );

    // 3. Password grant latency (argon2id m=19 MiB, t=2, p=1).
    let mut hist = Histogram::<u64>::new(3).unwrap();
    for _ in 0..30 {
        let t = Instant::now();
        auth.token(password_grant()).await.unwrap();
        hist.record(t.elapsed().as_micros() as u64).unwrap();
    }
    println!(
        "password grant (sequential, n=30): p50 {:.1} ms, p99 {:.1} ms",
        ms(&hist, 0.5),
        ms(&hist, 0.99)
    );

    // 4. agent-runtime latency alone and under 8 concurrent logins.
    let ar_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ar_addr = ar_listener.local_addr().unwrap();
    let mut ar_config = agent_runtime::config::Config {
        db_url: SecretString::from(format!(
            "sqlite:///{}/agent_runtime.db",
            dir.path().display()
        )),
        ..Default::default()
    };
    ar_config.auth = auth_cfg;
    tokio::spawn(agent_runtime::serve(
        ar_config,
        ar_listener,
        std::future::pending(),
    ));
    let ar_channel = connect(ar_addr).await;
    let token = auth
        .token(password_grant())
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let mut sessions = apb::session_service_client::SessionServiceClient::new(ar_channel.clone());
    let mut req = tonic::Request::new(apb::CreateSessionRequest {
        session_id: "bench".into(),
        ..Default::default()
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    sessions.create_session(req).await.unwrap();
    let _ = stats_latency(&ar_channel, &token, "bench", 4, 1).await;
    let alone = stats_latency(&ar_channel, &token, "bench", 4, 5).await;
    // Eight users logging in at once (one username's simultaneous attempts beyond the lockout
    // limit would count as guesses).
    let mut users = pb::user_service_client::UserServiceClient::new(auth_channel.clone());
    for i in 0..8 {
        let mut req = tonic::Request::new(pb::CreateUserRequest {
            username: format!("bench{i}"),
            email: String::new(),
            password: "bench-password".into(),
            scopes: String::new(),
        });
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        users.create_user(req).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let logins = Arc::new(AtomicU64::new(0));
    let mut loaders = Vec::new();
    for i in 0..8 {
        let (channel, stop, logins) = (auth_channel.clone(), stop.clone(), logins.clone());
        loaders.push(tokio::spawn(async move {
            let mut auth = pb::auth_service_client::AuthServiceClient::new(channel);
            while !stop.load(Ordering::Relaxed) {
                auth.token(login_as(&format!("bench{i}"), "bench-password"))
                    .await
                    .unwrap();
                logins.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = stats_latency(&ar_channel, &token, "bench", 4, 5).await;
    stop.store(true, Ordering::Relaxed);
    for l in loaders {
        l.await.unwrap();
    }
    println!(
        "agent-runtime GetSessionStats, 4 clients: alone p50 {:.2} ms p99 {:.2} ms ({:.0}/s); \
         with 8 concurrent logins p50 {:.2} ms p99 {:.2} ms ({:.0}/s); logins completed: {}",
        ms(&alone, 0.5),
        ms(&alone, 0.99),
        alone.len() as f64 / 5.0,
        ms(&loaded, 0.5),
        ms(&loaded, 0.99),
        loaded.len() as f64 / 5.0,
        logins.load(Ordering::Relaxed)
    );
}
