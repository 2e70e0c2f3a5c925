# syntax=docker/dockerfile:1
# One image with the three binaries: agent-runtime, auth-service and codelab.
#   docker build -t codelab .
#   docker run codelab agent-runtime      (or auth-service; see docker-compose.yml)

# --- build --------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

# The dependency graph only, so the layer below stays cached until Cargo.toml/Cargo.lock change.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Build settings (the bundled SQLite's flags) apply to the cached dependencies too.
COPY .cargo .cargo
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p agent-runtime -p auth-service -p codelab \
 && mkdir -p /out \
 && cp target/release/agent-runtime target/release/auth-service target/release/codelab /out/ \
 && strip /out/*

# --- runtime ------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --create-home codelab \
 && mkdir -p /app/data /app/backups \
 && chown -R codelab:codelab /app
COPY --from=builder /out/ /usr/local/bin/
USER codelab
WORKDIR /app
# Inside a container the services listen on every interface; SQLite files go to /app/data.
ENV AGENT_RUNTIME__GRPC_ADDR=0.0.0.0:50051 \
    AUTH_SERVICE__GRPC_ADDR=0.0.0.0:50052 \
    HEALTHCHECK_ADDR=http://127.0.0.1:50051 \
    LOG_FORMAT=json
VOLUME ["/app/data", "/app/backups"]
EXPOSE 50051 50052 9464 9465
# grpc.health.v1 of the service in this container (set HEALTHCHECK_ADDR for auth-service).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 \
    CMD codelab healthcheck --addr "$HEALTHCHECK_ADDR"
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["agent-runtime"]
