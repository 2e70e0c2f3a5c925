//! [`BackupSettings`]: where a service keeps backups and how often it takes them.

use std::path::PathBuf;

/// `<PREFIX>__BACKUP__*`: where a service keeps backups and the optional schedule.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct BackupSettings {
    /// Folder of backups (the `DatabaseAdmin` RPCs and scheduled backups). Default `backups`.
    pub dir: PathBuf,
    /// Seconds between scheduled backups; 0 (default) = no scheduled backups.
    pub interval: u64,
    /// Scheduled backups kept (older scheduled ones of this database are pruned after each
    /// backup; the newest verified scheduled backup is always kept; manual and pre-restore
    /// backups are never pruned by the schedule). Default 7.
    pub keep: usize,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            dir: PathBuf::from("backups"),
            interval: 0,
            keep: 7,
        }
    }
}
