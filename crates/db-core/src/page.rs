//! Keyset paging, one helper for every list query: the query reads one row more than the
//! page holds (`LIMIT page_size + 1`), and that extra row tells whether another page follows.

/// Cuts `rows`, read with `LIMIT page_size + 1`, to at most `page_size` rows. Returns the
/// `key` of the last row kept when more rows follow (the next page starts after it), `None`
/// on the last page.
pub fn cut_page<T, K>(rows: &mut Vec<T>, page_size: i64, key: impl FnOnce(&T) -> K) -> Option<K> {
    if rows.len() as i64 > page_size {
        rows.truncate(page_size as usize);
        rows.last().map(key)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::cut_page;

    #[test]
    fn an_extra_row_means_another_page_after_the_last_kept() {
        let mut rows = vec![10, 20, 30];
        assert_eq!(cut_page(&mut rows, 2, |r| *r), Some(20));
        assert_eq!(rows, [10, 20]);
    }

    #[test]
    fn no_extra_row_is_the_last_page() {
        let mut rows = vec![10, 20];
        assert_eq!(cut_page(&mut rows, 2, |r| *r), None);
        assert_eq!(rows, [10, 20]);
        let mut empty: Vec<i64> = Vec::new();
        assert_eq!(cut_page(&mut empty, 5, |r| *r), None);
    }
}
