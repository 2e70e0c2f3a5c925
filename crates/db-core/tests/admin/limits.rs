//! A crafted backup whose checksums all match but whose table file decompresses to a huge line
//! (a decompression bomb: 96 MiB of `a` without a newline is a few kilobytes of zstd) is refused
//! by verify, deep verify and restore with an error naming the limit, on both backends.

use super::backups::{copy_backup, sha256_hex, write_signed_manifest};
use super::*;
use db_core::admin::backup::{Manifest, RestoreOptions, limits};
use db_core::migrate;
use db_core::testing::TestDb;
use std::io::Read as _;

/// A copy of backup `from` in `to` whose `books` file is `content` (zstd), with the manifest's
/// size and sha256 updated to match and `uncompressed_bytes` set to `claimed`.
fn crafted(from: &Path, to: &Path, content: &[u8], claimed: Option<u64>) {
    copy_backup(from, to);
    let mut manifest = Manifest::read(to).unwrap();
    let books = manifest
        .tables
        .iter_mut()
        .find(|t| t.name == "books")
        .unwrap();
    std::fs::write(to.join(&books.file), content).unwrap();
    books.bytes = content.len() as u64;
    books.sha256 = sha256_hex(content);
    books.uncompressed_bytes = claimed;
    write_signed_manifest(to, &manifest);
}

async fn a_decompression_bomb_is_refused(backend: Backend) {
    let src = TestDb::new(backend).await;
    migrate::migrate(src.url(), &SET, None).await.unwrap();
    seed(src.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let info = backup_to(src.url(), dir.path(), Compression::Zstd).await;
    let original = info
        .manifest
        .tables
        .iter()
        .find(|t| t.name == "books")
        .unwrap()
        .uncompressed_bytes;
    assert!(original.is_some(), "new manifests record the size");

    let huge = (limits::MAX_ROW_BYTES as u64) + (32 << 20);
    let bomb = zstd::encode_all(std::io::repeat(b'a').take(huge), 3).unwrap();
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());

    // (manifest's claimed size, what the refusal names)
    let cases = [
        // The true size of the original rows: the bomb goes past it.
        (original, "more than the"),
        // A manifest claiming the bomb's size: the row length limit still holds.
        (Some(huge), "longer than"),
        // A manifest from before sizes were recorded: 1024 × the compressed size.
        (None, "manifest without uncompressed sizes"),
    ];
    let target = TestDb::new(backend).await;
    for (i, (claimed, expected)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("crafted-{i}"));
        crafted(&info.path, &path, &bomb, claimed);
        for deep in [false, true] {
            let report = backup::verify(&path, Some(&SET), deep).await.unwrap();
            assert!(!report.ok, "case {i}");
            assert!(
                report.problems.iter().any(|p| p.contains(expected)),
                "case {i}: {:?}",
                report.problems
            );
        }
        let e = backup::restore(
            &path,
            target.url(),
            &SET,
            RestoreOptions {
                force: true,
                safety_dir: dir.path(),
                progress: &NoProgress,
            },
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains(expected), "case {i}: {e}");
    }
    // The untouched backup still restores.
    assert!(
        backup::verify(&info.path, Some(&SET), true)
            .await
            .unwrap()
            .ok
    );
}

/// A backup whose rows decompress to fewer bytes than its manifest records is refused too.
async fn a_file_shorter_than_recorded_is_refused(backend: Backend) {
    let src = TestDb::new(backend).await;
    migrate::migrate(src.url(), &SET, None).await.unwrap();
    seed(src.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let info = backup_to(src.url(), dir.path(), Compression::Zstd).await;
    let books = info
        .manifest
        .tables
        .iter()
        .find(|t| t.name == "books")
        .unwrap();
    let rows = zstd::decode_all(std::fs::File::open(info.path.join(&books.file)).unwrap()).unwrap();
    let path = dir.path().join("crafted");
    let claimed = books.uncompressed_bytes.unwrap() + 1;
    crafted(
        &info.path,
        &path,
        &zstd::encode_all(rows.as_slice(), 3).unwrap(),
        Some(claimed),
    );
    let report = backup::verify(&path, Some(&SET), false).await.unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&format!("the manifest records {claimed}"))),
        "{:?}",
        report.problems
    );
}

backend_tests!(
    a_decompression_bomb_is_refused,
    a_file_shorter_than_recorded_is_refused
);
