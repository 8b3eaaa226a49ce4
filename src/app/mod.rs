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
mod label;
mod out_of_memory;
pub mod plot;
mod printable;
mod progress;
mod report;
mod run_dir;
mod spec;
mod sweep;

// What the binaries use, and the types those items hand out.
pub use batch::{
    images_in, run_batch, run_batch_decoded, shared_palette, BatchReport, DecodedSet, SharedPalette,
};
pub use cleanup::{exit_on_signals, flag_on_signals};
pub use cli_args::{exit_after_printing, parse_args, report_error, ClusterArgs};
pub use error::{AppError, Result};
pub use job::{run_job, JobReport, Quality, Timings};
pub use out_of_memory::ExitOnOutOfMemory;
pub use printable::{printable, write_lines};
pub use progress::progress_bar;
pub use spec::{ClusterOptions, JobSpec, Outputs, DEFAULT_OUT_DIR};
pub use sweep::{
    default_jobs, loss_line, run_sweep, suggestion_line, SweepReport, SweepSpec, DEFAULT_K_MAX,
    DEFAULT_K_MIN,
};
