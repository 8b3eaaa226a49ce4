//! What the two binaries are made of (feature `cli`): a `k_means` run and its run folder, `find_k`'s
//! sweep over child processes, folders of images, signals, plots, progress bars and arguments.
//!
//! This is the binaries' glue, public so that they (and the integration tests) can reach it; it is
//! not meant as a library API and may change in any release. Library users want the crate root.

mod batch;
mod cleanup;
mod cli_args;
mod error;
mod job;
pub mod plot;
mod progress;
mod report;
mod run_dir;
mod spec;
mod sweep;

pub use batch::{images_in, run_batch, BatchReport};
pub use cleanup::{exit_on_signals, flag_on_signals};
pub use cli_args::{
    exit_after_printing, install_panic_hook, print_completions_or_man, report_error, ClusterArgs,
};
pub use error::{AppError, Result};
pub use job::{random_seed, run_job, JobReport, Quality, Timings};
pub use progress::progress_bar;
pub use report::{details_text, loss_text, parse_loss};
pub use run_dir::{canonical_text, folder_name, path_entry, Staging};
pub use spec::{
    default_max_epochs, empty_name, init_name, ClusterOptions, JobSpec, Outputs,
    DEFAULT_MAX_EPOCHS, DEFAULT_MAX_EPOCHS_KMEANS_PP, DEFAULT_OUT_DIR, DEFAULT_RESTARTS,
};
pub use sweep::{
    default_jobs, k_means_args, locate_k_means, loss_line, losses_csv, run_sweep, suggestion_line,
    SweepReport, SweepSpec, DEFAULT_K_MAX, DEFAULT_K_MIN,
};
