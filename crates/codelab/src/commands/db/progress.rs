//! Progress of long operations: indicatif bars when stdout is a terminal, plain lines on
//! stderr otherwise (logs and CI stay readable).

use db_core::admin::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal as _;
use std::sync::Mutex;

/// A [`Progress`] for the terminal or for logs.
pub struct Reporter {
    bar: Mutex<Option<(ProgressBar, String, u64)>>,
    terminal: bool,
}

impl Reporter {
    /// Bars when stdout is a terminal, lines otherwise.
    pub fn new() -> Reporter {
        Reporter {
            bar: Mutex::new(None),
            terminal: std::io::stdout().is_terminal(),
        }
    }
}

impl Default for Reporter {
    fn default() -> Self {
        Reporter::new()
    }
}

impl Progress for Reporter {
    fn start(&self, phase: &str, total: u64) {
        let bar = if self.terminal {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg:28} [{bar:30}] {human_pos}/{human_len} rows {per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(phase.to_owned());
            bar
        } else {
            eprintln!("{phase}: {total} rows");
            ProgressBar::hidden()
        };
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some((bar, phase.to_owned(), 0));
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some((bar, _, done)) = slot.as_mut()
        {
            bar.inc(n);
            *done += n;
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some((bar, phase, done)) = slot.take()
        {
            bar.finish_and_clear();
            if !self.terminal {
                eprintln!("{phase}: done ({done} rows)");
            }
        }
    }
}
