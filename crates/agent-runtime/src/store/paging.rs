//! Keyset pages of the list queries: each reads `page_size + 1` rows, and the extra row, when
//! it comes, says there is a next page after the last row kept.

/// Cuts `rows`, read with `LIMIT page_size + 1`, to `page_size` and returns them with the
/// `cursor` of the last row kept when a next page exists (`None` on the last page).
pub(crate) fn next_page<R, K>(
    mut rows: Vec<R>,
    page_size: i64,
    cursor: impl FnOnce(&R) -> K,
) -> (Vec<R>, Option<K>) {
    let next = if rows.len() as i64 > page_size {
        rows.truncate(page_size as usize);
        rows.last().map(cursor)
    } else {
        None
    };
    (rows, next)
}
