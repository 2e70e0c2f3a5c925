//! Hostile backups: a manifest or table file changed in any way is refused with a clear
//! problem — verify, deep verify and restore never panic and never touch the target.

use crate::{SET, seed};
use db_core::admin::NoProgress;
use db_core::admin::backup::{self, BackupOptions, Compression, RestoreOptions};
use db_core::migrate;
use db_core::testing::TestDb;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// One real backup of the fixture database, made once per process.
fn pristine() -> &'static (tempfile::TempDir, PathBuf) {
    static BACKUP: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    BACKUP.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let db = TestDb::sqlite();
            migrate::migrate(db.url(), &SET, None).await.unwrap();
            seed(db.url()).await;
            let dir = tempfile::tempdir().unwrap();
            let info = backup::backup(
                db.url(),
                &SET,
                BackupOptions {
                    dir: dir.path(),
                    label: None,
                    compression: Compression::None,
                    progress: &NoProgress,
                },
            )
            .await
            .unwrap();
            (dir, info.path)
        })
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A change to one file of a backup.
#[derive(Debug, Clone)]
enum Damage {
    FlipByte { at: usize, bit: u8 },
    Truncate { keep: usize },
    Replace(Vec<u8>),
    Append(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Damage::FlipByte { at, bit }),
        any::<usize>().prop_map(|keep| Damage::Truncate { keep }),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Damage::Replace),
        "\\PC{0,100}".prop_map(|s| Damage::Replace(s.into_bytes())),
        proptest::collection::vec(any::<u8>(), 1..50).prop_map(Damage::Append),
    ]
}

fn apply(path: &Path, damage: &Damage) -> bool {
    let mut bytes = std::fs::read(path).unwrap();
    let before = bytes.clone();
    match damage {
        Damage::FlipByte { at, bit } if !bytes.is_empty() => {
            let i = at % bytes.len();
            bytes[i] ^= 1 << bit;
        }
        Damage::FlipByte { .. } => {}
        Damage::Truncate { keep } => bytes.truncate(keep % (bytes.len() + 1)),
        Damage::Replace(new) => bytes = new.clone(),
        Damage::Append(more) => bytes.extend_from_slice(more),
    }
    std::fs::write(path, &bytes).unwrap();
    bytes != before
}

proptest! {
    // 96 cases in every test run; `PROPTEST_CASES=N` runs N instead (longer runs).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96),
    ))]

    #[test]
    fn damaged_backups_are_refused_and_the_target_is_untouched(
        which in 0usize..3,
        damage in damage(),
    ) {
        let (_keep, pristine) = pristine();
        let work = tempfile::tempdir().unwrap();
        let copy = work.path().join(pristine.file_name().unwrap());
        copy_dir(pristine, &copy);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&copy)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let target = files
            .iter()
            .find(|p| p.ends_with("manifest.json"))
            .filter(|_| which == 0)
            .cloned()
            .unwrap_or_else(|| files[which % files.len()].clone());
        let changed = apply(&target, &damage);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let report = backup::verify(&copy, Some(&SET), true).await;
            if changed {
                // Either refused outright or reported with problems: never "ok".
                if let Ok(r) = &report {
                    assert!(!r.ok, "a changed backup verified: {damage:?} on {}", target.display());
                    assert!(!r.problems.is_empty());
                }
                let db = TestDb::sqlite();
                migrate::migrate(db.url(), &SET, None).await.unwrap();
                let restored = backup::restore(
                    &copy,
                    db.url(),
                    &SET,
                    RestoreOptions {
                        force: true,
                        safety_dir: work.path(),
                        progress: &NoProgress,
                    },
                )
                .await;
                assert!(restored.is_err(), "a changed backup restored: {damage:?}");
                let rows = crate::dump(db.url()).await;
                assert!(rows.0.is_empty() && rows.1.is_empty(), "target untouched");
            }
        });
    }
}
