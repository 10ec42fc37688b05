//! Progress for long work: a bar on a terminal, log lines elsewhere (CI).

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

/// Reports progress of the current stage.
pub struct Progress {
    bar: Mutex<Option<ProgressBar>>,
    interactive: bool,
}

impl Progress {
    /// A bar when stderr is a terminal (and not `quiet`), log lines otherwise.
    pub fn new(quiet: bool) -> Self {
        Self {
            bar: Mutex::new(None),
            interactive: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// Starts a stage of `total` units.
    pub fn stage(&self, name: &str, total: u64) {
        tracing::info!(stage = name, total, "starting");
        if !self.interactive {
            return;
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template("{msg:40} [{bar:30}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(name.to_string());
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    /// Advances the current stage.
    pub fn inc(&self, n: u64) {
        if let Ok(slot) = self.bar.lock() {
            if let Some(bar) = slot.as_ref() {
                bar.inc(n);
            }
        }
    }

    /// Ends the current stage.
    pub fn finish_stage(&self) {
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(bar) = slot.take() {
                bar.finish();
            }
        }
    }
}
