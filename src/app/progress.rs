//! The progress bar both binaries show on stderr while they work.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` steps named `what` (e.g. "restarts"), drawn only when stderr is a terminal, so
/// piped and redirected output stays clean.
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let template = format!("{{spinner}} {what} {{pos}}/{{len}} {{wide_bar}} {{elapsed}}");
    let bar = ProgressBar::new(len)
        .with_style(ProgressStyle::with_template(&template).expect("valid template"));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
