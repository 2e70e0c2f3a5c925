//! One page of an auth-service list call (`users list`, `clients list`), checked and printed
//! the same way whatever it lists.

use codelab_proto::auth::v1::{Client, ListClientsResponse, ListUsersResponse, User};

use crate::client::describe_with_hint;
use crate::output;

/// An AIP-158 list response: its items, their total and where the next page starts.
pub trait Listing {
    /// What is listed.
    type Item;
    /// The items of this page.
    fn items(&self) -> &[Self::Item];
    /// Items in all pages.
    fn total_size(&self) -> i64;
    /// `--page-token` of the next page; empty on the last one.
    fn next_page_token(&self) -> &str;
}

impl Listing for ListUsersResponse {
    type Item = User;
    fn items(&self) -> &[User] {
        &self.users
    }
    fn total_size(&self) -> i64 {
        self.total_size
    }
    fn next_page_token(&self) -> &str {
        &self.next_page_token
    }
}

impl Listing for ListClientsResponse {
    type Item = Client;
    fn items(&self) -> &[Client] {
        &self.clients
    }
    fn total_size(&self) -> i64 {
        self.total_size
    }
    fn next_page_token(&self) -> &str {
        &self.next_page_token
    }
}

/// Prints the page `listed` answered, of `kind` (`users`, `clients`): each item through
/// `item_json` with `--json`, else through `table` (see [`output::print_page`]).
///
/// # Errors
/// A refused call (`listing <kind>: …` with what to do), or a closed stdout.
pub fn print<L: Listing>(
    kind: &str,
    listed: Result<tonic::Response<L>, tonic::Status>,
    item_json: fn(&L::Item) -> serde_json::Value,
    table: fn(&[L::Item]) -> String,
    as_json: bool,
) -> anyhow::Result<()> {
    let page = listed
        .map_err(|s| anyhow::anyhow!("listing {kind}: {}", describe_with_hint(&s)))?
        .into_inner();
    output::print_page(
        kind,
        page.items().iter().map(item_json).collect(),
        table(page.items()),
        page.total_size(),
        page.next_page_token(),
        as_json,
    )?;
    Ok(())
}
