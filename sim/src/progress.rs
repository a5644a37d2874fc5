//! Progress of long runs (`sim sweep`, `sim plan`): a bar on stderr with
//! the replays done, their rate and the ETA (indicatif), drawn only when
//! stderr is a terminal, so logs and CI output stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A thread-safe counter of finished replays, shown as a bar.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar of `total` steps labelled `what` (e.g. "sim sweep").
    pub fn new(what: &str, total: usize) -> Progress {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total as u64), target);
        let style = ProgressStyle::with_template(
            "{prefix}: [{bar:30}] {pos}/{len} replays, {per_sec}, {elapsed} elapsed, ETA {eta}",
        )
        .expect("a valid progress template")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        Progress { bar }
    }

    /// One step done.
    pub fn tick(&self) {
        self.bar.inc(1);
    }

    /// Clears the bar (the caller prints its own summary line).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
