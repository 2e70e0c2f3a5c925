//! `codelab clients`: manage auth-service OAuth clients over gRPC (`ClientService`; needs an
//! administrator's token, `--token` or `CODELAB_TOKEN`). A confidential client's secret is
//! printed once, when created or rotated.

use crate::client::{self, AuthChannel, AuthConnectOpts, describe_with_hint};
use crate::commands::users::rfc3339;
use crate::output;
use codelab_proto::auth::v1::client_service_client::ClientServiceClient;
use codelab_proto::auth::v1::{
    Client, CreateClientRequest, DeleteClientRequest, GetClientRequest, ListClientsRequest,
    UpdateClientRequest,
};
use serde_json::json;

/// The `clients` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a client; a confidential client's secret is printed once.
    Create(CreateOpts),
    /// List clients.
    List(crate::client::ListOpts),
    /// Show one client.
    Get(ClientOpts),
    /// Change a client's settings.
    Update(UpdateOpts),
    /// Delete a client and every refresh token issued to it.
    Delete(ClientOpts),
    /// Issue a new secret for a confidential client (printed once; the old one stops working).
    RotateSecret(ClientOpts),
}

/// Options of `clients create`.
#[derive(Debug, Clone, clap::Args)]
pub struct CreateOpts {
    /// Client id: 3–64 characters of [A-Za-z0-9._-] (generated when omitted).
    pub client_id: Option<String>,
    /// Display name.
    #[arg(long, default_value = "")]
    pub name: String,
    /// Description.
    #[arg(long, default_value = "")]
    pub description: String,
    /// A confidential client (has a secret; may use client_credentials).
    #[arg(long)]
    pub confidential: bool,
    /// Allowed scopes, space-separated (default "api:read api:write").
    #[arg(long, default_value = "")]
    pub scopes: String,
    /// Allowed grant types, comma-separated: password, refresh_token, client_credentials.
    #[arg(long, value_delimiter = ',')]
    pub grant_types: Vec<String>,
    /// Access-token lifetime in seconds (60–86400; default 900).
    #[arg(long, default_value_t = 0)]
    pub access_token_lifetime: i64,
    /// Refresh-token family lifetime in seconds (default 30 days).
    #[arg(long, default_value_t = 0)]
    pub refresh_token_lifetime: i64,
    /// Print the client (and secret) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Server and credentials.
    #[command(flatten)]
    pub connect: AuthConnectOpts,
}

/// Options of the subcommands that act on one client.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientOpts {
    /// Client id.
    pub client_id: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Server and credentials.
    #[command(flatten)]
    pub connect: AuthConnectOpts,
}

/// Options of `clients update`: only the settings given change.
#[derive(Debug, Clone, clap::Args)]
pub struct UpdateOpts {
    /// Client id.
    pub client_id: String,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    /// New allowed scopes, space-separated.
    #[arg(long)]
    pub scopes: Option<String>,
    /// New allowed grant types, comma-separated (replaces the list).
    #[arg(long, value_delimiter = ',')]
    pub grant_types: Option<Vec<String>>,
    /// New access-token lifetime, seconds.
    #[arg(long)]
    pub access_token_lifetime: Option<i64>,
    /// New refresh-token family lifetime, seconds.
    #[arg(long)]
    pub refresh_token_lifetime: Option<i64>,
    /// Enable (true) or disable (false) the client.
    #[arg(long)]
    pub active: Option<bool>,
    /// Print the client as JSON.
    #[arg(long)]
    pub json: bool,
    /// Server and credentials.
    #[command(flatten)]
    pub connect: AuthConnectOpts,
}

/// Runs a `clients` subcommand.
///
/// # Errors
/// No auth-service, or a refused call (the message carries the gRPC code and, for
/// `UNAUTHENTICATED` / `PERMISSION_DENIED`, what to do).
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Create(opts) => {
            let mut clients = connect(&opts.connect).await?;
            let shown = opts.client_id.clone().unwrap_or_default();
            let created = clients
                .create_client(CreateClientRequest {
                    client_id: opts.client_id.unwrap_or_default(),
                    name: opts.name,
                    description: opts.description,
                    is_confidential: opts.confidential,
                    allowed_scopes: opts.scopes,
                    allowed_grant_types: opts.grant_types,
                    access_token_lifetime_secs: opts.access_token_lifetime,
                    refresh_token_lifetime_secs: opts.refresh_token_lifetime,
                })
                .await
                .map_err(|s| {
                    anyhow::anyhow!("creating client `{shown}`: {}", describe_with_hint(&s))
                })?
                .into_inner();
            let client = created
                .client
                .ok_or_else(|| anyhow::anyhow!("auth-service answered without the client"))?;
            print_client(&client, &created.client_secret, opts.json)
        }
        Command::List(opts) => {
            let mut clients = connect(&opts.connect).await?;
            let listed = clients
                .list_clients(ListClientsRequest {
                    page_size: opts.page_size,
                    page_token: opts.page_token,
                })
                .await;
            super::page::print("clients", listed, client_json, table, opts.json)
        }
        Command::Get(opts) => {
            let mut clients = connect(&opts.connect).await?;
            let client = clients
                .get_client(GetClientRequest {
                    client_id: opts.client_id.clone(),
                })
                .await
                .map_err(|s| {
                    anyhow::anyhow!(
                        "getting client `{}`: {}",
                        opts.client_id,
                        describe_with_hint(&s)
                    )
                })?
                .into_inner();
            print_client(&client, "", opts.json)
        }
        Command::Update(opts) => {
            let mut clients = connect(&opts.connect).await?;
            let update_grant_types = opts.grant_types.is_some();
            let updated = clients
                .update_client(UpdateClientRequest {
                    client_id: opts.client_id.clone(),
                    name: opts.name,
                    description: opts.description,
                    allowed_scopes: opts.scopes,
                    allowed_grant_types: opts.grant_types.unwrap_or_default(),
                    update_grant_types,
                    access_token_lifetime_secs: opts.access_token_lifetime,
                    refresh_token_lifetime_secs: opts.refresh_token_lifetime,
                    is_active: opts.active,
                    rotate_secret: false,
                })
                .await
                .map_err(|s| {
                    anyhow::anyhow!(
                        "updating client `{}`: {}",
                        opts.client_id,
                        describe_with_hint(&s)
                    )
                })?
                .into_inner();
            let client = updated
                .client
                .ok_or_else(|| anyhow::anyhow!("auth-service answered without the client"))?;
            print_client(&client, "", opts.json)
        }
        Command::Delete(opts) => {
            let mut clients = connect(&opts.connect).await?;
            clients
                .delete_client(DeleteClientRequest {
                    client_id: opts.client_id.clone(),
                })
                .await
                .map_err(|s| {
                    anyhow::anyhow!(
                        "deleting client `{}`: {}",
                        opts.client_id,
                        describe_with_hint(&s)
                    )
                })?;
            if opts.json {
                output::print(&output::json(&json!({ "deleted": opts.client_id })))?;
            } else {
                output::println(&format!("deleted client {}", opts.client_id))?;
            }
            Ok(())
        }
        Command::RotateSecret(opts) => {
            let mut clients = connect(&opts.connect).await?;
            let updated = clients
                .update_client(UpdateClientRequest {
                    client_id: opts.client_id.clone(),
                    rotate_secret: true,
                    ..UpdateClientRequest::default()
                })
                .await
                .map_err(|s| {
                    anyhow::anyhow!(
                        "rotating the secret of client `{}`: {}",
                        opts.client_id,
                        describe_with_hint(&s)
                    )
                })?
                .into_inner();
            anyhow::ensure!(
                !updated.client_secret.is_empty(),
                "auth-service issued no secret for `{}`",
                opts.client_id
            );
            if opts.json {
                output::print(&output::json(&json!({
                    "client_id": opts.client_id,
                    "client_secret": updated.client_secret,
                })))?;
            } else {
                output::println(&format!(
                    "new secret of {} (shown once; the old one no longer works):\n{}",
                    opts.client_id, updated.client_secret
                ))?;
            }
            Ok(())
        }
    }
}

async fn connect(opts: &AuthConnectOpts) -> anyhow::Result<ClientServiceClient<AuthChannel>> {
    Ok(client::connect_auth(opts).await?.clients())
}

/// Prints `client` (and `secret` when not empty: shown once).
fn print_client(client: &Client, secret: &str, json: bool) -> anyhow::Result<()> {
    if json {
        let mut value = client_json(client);
        if !secret.is_empty() {
            value["client_secret"] = json!(secret);
        }
        output::print(&output::json(&value))?;
    } else {
        let mut text = table(std::slice::from_ref(client));
        if !secret.is_empty() {
            text.push_str(&format!("client secret (shown once): {secret}\n"));
        }
        output::print(&text)?;
    }
    Ok(())
}

/// Clients as a table: CLIENT ID, NAME, TYPE, SCOPES, GRANT TYPES, ACCESS TTL, ACTIVE.
pub fn table(clients: &[Client]) -> String {
    output::table(
        &[
            "CLIENT ID",
            "NAME",
            "TYPE",
            "SCOPES",
            "GRANT TYPES",
            "ACCESS TTL",
            "ACTIVE",
        ],
        clients.iter().map(|c| {
            vec![
                c.client_id.clone(),
                c.name.clone(),
                if c.is_confidential {
                    "confidential"
                } else {
                    "public"
                }
                .to_owned(),
                c.allowed_scopes.clone(),
                c.allowed_grant_types.join(","),
                format!("{}s", c.access_token_lifetime_secs),
                if c.is_active { "yes" } else { "no" }.to_owned(),
            ]
        }),
    )
}

/// A client as JSON (timestamps RFC 3339).
pub fn client_json(client: &Client) -> serde_json::Value {
    json!({
        "client_id": client.client_id,
        "name": client.name,
        "description": client.description,
        "is_confidential": client.is_confidential,
        "allowed_scopes": client.allowed_scopes,
        "allowed_grant_types": client.allowed_grant_types,
        "access_token_lifetime_secs": client.access_token_lifetime_secs,
        "refresh_token_lifetime_secs": client.refresh_token_lifetime_secs,
        "is_active": client.is_active,
        "created_at": rfc3339(client.created_at.as_ref()),
        "updated_at": rfc3339(client.updated_at.as_ref()),
    })
}
