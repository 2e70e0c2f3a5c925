use super::*;

/// A table entry describing `file` (`content`) as the manifest would: its true size, sha256
/// and row count, `rows` rows of `plain` bytes decompressed.
fn entry(file: &str, content: &[u8], rows: u64, plain: u64) -> TableEntry {
    TableEntry {
        name: "t".into(),
        columns: vec!["a".into()],
        rows,
        file: file.into(),
        bytes: content.len() as u64,
        uncompressed_bytes: Some(plain),
        sha256: hex(&sha2::Sha256::digest(content)),
    }
}

#[test]
fn one_read_checks_size_hash_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let rows = b"[1]\n[2]\n[3]\n";
    let zst = zstd::encode_all(&rows[..], 3).unwrap();
    std::fs::write(dir.path().join("t.jsonl.zst"), &zst).unwrap();
    let good = entry("t.jsonl.zst", &zst, 3, rows.len() as u64);
    assert_eq!(check_table(dir.path(), Compression::Zstd, &good), None);

    let more = TableEntry {
        rows: 4,
        ..good.clone()
    };
    assert_eq!(
        check_table(dir.path(), Compression::Zstd, &more).as_deref(),
        Some("t.jsonl.zst: 3 rows read, manifest says 4")
    );
    let missing = TableEntry {
        file: "gone.jsonl.zst".into(),
        ..good.clone()
    };
    assert!(
        check_table(dir.path(), Compression::Zstd, &missing)
            .unwrap()
            .starts_with("gone.jsonl.zst: No such file")
    );
}

#[test]
fn a_changed_file_is_a_hash_mismatch_even_when_it_no_longer_decompresses() {
    let dir = tempfile::tempdir().unwrap();
    let rows = b"[1]\n[2]\n";
    let zst = zstd::encode_all(&rows[..], 3).unwrap();
    let good = entry("t.jsonl.zst", &zst, 2, rows.len() as u64);
    let mut changed = zst.clone();
    changed[zst.len() / 2] ^= 0xff;
    std::fs::write(dir.path().join("t.jsonl.zst"), &changed).unwrap();
    assert_eq!(
        check_table(dir.path(), Compression::Zstd, &good).as_deref(),
        Some("t.jsonl.zst: sha256 mismatch (file changed)")
    );
    std::fs::write(dir.path().join("t.jsonl.zst"), &zst[..zst.len() - 3]).unwrap();
    assert_eq!(
        check_table(dir.path(), Compression::Zstd, &good),
        Some(format!(
            "t.jsonl.zst: {} bytes, manifest says {} (truncated or replaced)",
            zst.len() - 3,
            zst.len()
        ))
    );
}

#[test]
fn bytes_the_decompressor_leaves_unread_are_hashed_too() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let rows = b"[1]\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(rows).unwrap();
    let mut file = gz.finish().unwrap();
    // After the gzip member: bytes gzip never reads, still part of the file's hash and size.
    file.extend_from_slice(b"trailing");
    std::fs::write(dir.path().join("t.jsonl.gz"), &file).unwrap();
    let good = entry("t.jsonl.gz", &file, 1, rows.len() as u64);
    assert_eq!(check_table(dir.path(), Compression::Gzip, &good), None);
    let other = TableEntry {
        sha256: hex(&sha2::Sha256::digest(&file[..file.len() - 8])),
        ..good
    };
    assert_eq!(
        check_table(dir.path(), Compression::Gzip, &other).as_deref(),
        Some("t.jsonl.gz: sha256 mismatch (file changed)")
    );
}
