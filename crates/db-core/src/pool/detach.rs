//! [`detach`]: a database operation that outlives its caller.

use crate::DbError;

/// Runs a database operation on its own task and waits for it.
///
/// A gRPC handler's future is dropped when its client goes away; a transaction dropped half way
/// would leave its connection with an open transaction. Running the operation detached lets it
/// commit or roll back whatever happens to the caller.
///
/// # Errors
/// The operation's own error, or `DbError::Unavailable` (converted into `E`) when the runtime
/// is shutting down. A panic inside the operation is resumed in the caller.
pub async fn detach<T, E, F>(operation: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    match tokio::spawn(operation).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(E::from(DbError::Unavailable(
            "runtime is shutting down".into(),
        ))),
    }
}
