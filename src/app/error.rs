//! The binaries' error: everything a run can meet besides bad parameters and bad images (folders
//! and files that cannot be written, child processes, signals).

use std::path::PathBuf;

/// What stops a `k_means` or `find_k` run. Messages are one line, lowercase, naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A parameter the core refuses.
    #[error(transparent)]
    Params(#[from] crate::Error),
    /// An image that cannot be read.
    #[error(transparent)]
    Image(#[from] crate::io::ImageError),
    /// A palette file that cannot be used.
    #[error(transparent)]
    Palette(#[from] crate::io::PaletteFileError),
    /// Every pixel is fully transparent, so there is no colour to cluster.
    #[error("image '{path}' has no opaque pixels to cluster")]
    NoOpaquePixels {
        /// The path as the user gave it.
        path: PathBuf,
    },
    /// A folder given where one image is needed, or a folder with no usable image.
    #[error("cannot read image '{path}': {why}")]
    NotOneImage {
        /// The path as the user gave it.
        path: PathBuf,
        /// What it is instead (`it is a folder; find_k sweeps one image`, ...).
        why: &'static str,
    },
    /// A folder of images that cannot be listed.
    #[error("cannot read image '{path}': {source}")]
    ListFolder {
        /// The folder as the user gave it.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// `find_k`'s range of K is empty or too large.
    #[error("invalid k range: need 1 <= k-min <= k-max <= {max}, got {k_min}..={k_max}")]
    KRange {
        /// The first K asked for.
        k_min: usize,
        /// The last K asked for.
        k_max: usize,
        /// The largest K there is.
        max: usize,
    },
    /// `find_k -j 0`.
    #[error("invalid jobs: must be at least 1")]
    NoJobs,
    /// `find_k --timeout 0`.
    #[error("invalid timeout: must be at least 1 second")]
    ZeroTimeout,
    /// `find_k`'s private folder could not be made in the temporary folder.
    #[error("cannot make a temporary folder in '{path}' (TMPDIR): {source}")]
    TempDir {
        /// The temporary folder (`TMPDIR`, else `/tmp`).
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// An output file or folder could not be written.
    #[error("cannot write '{path}': {source}")]
    Write {
        /// The file or folder that could not be written.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The run folder's name is taken by something else (a symbolic link, a file); nothing was
    /// written through it.
    #[error("cannot write '{path}': it is {what}, not a folder; kquant never writes through a link or replaces what it did not make")]
    NotAFolder {
        /// The name that is taken.
        path: PathBuf,
        /// What stands there (`a symbolic link`, ...).
        what: &'static str,
    },
    /// A file name of the run is taken by something that is not a file kquant wrote.
    #[error("cannot write '{path}': it is {what}, not a file kquant wrote; nothing was changed")]
    NotOurFile {
        /// The name that is taken.
        path: PathBuf,
        /// What stands there.
        what: &'static str,
    },
    /// The folder that run folders go in is not a folder.
    #[error("cannot write '{path}': it is not a folder")]
    OutDirNotAFolder {
        /// The out-dir as the user gave it.
        path: PathBuf,
    },
    /// An output image or plot could not be encoded.
    #[error("cannot encode '{path}': {source}")]
    Encode {
        /// The file being made.
        path: PathBuf,
        /// What the encoder or the plotting library said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The `k_means` binary that `find_k` runs is not there.
    #[error("cannot run k_means at '{looked}': no such file (build it with `cargo build --release`, or give --k-means PATH)")]
    MissingKMeans {
        /// Where it was looked for.
        looked: PathBuf,
    },
    /// The `k_means` binary could not be started.
    #[error("cannot run k_means at '{looked}': cannot start it: {source}")]
    StartKMeans {
        /// The binary.
        looked: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A `k_means` child of `find_k` failed.
    #[error("k_means failed for k = {k}: {message}")]
    ChildFailed {
        /// The K it was run for.
        k: usize,
        /// The child's own error line (or how it ended, when it printed none).
        message: String,
    },
    /// A `k_means` child's loss file could not be read.
    #[error("k_means failed for k = {k}: cannot read '{path}': {source}")]
    ChildLossUnreadable {
        /// The K it was run for.
        k: usize,
        /// The loss file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A `k_means` child's loss file holds no loss as `k_means` writes it.
    #[error("k_means failed for k = {k}: '{path}' holds no loss")]
    ChildLossInvalid {
        /// The K it was run for.
        k: usize,
        /// The loss file.
        path: PathBuf,
    },
    /// A `k_means` child of `find_k` ran longer than `--timeout`; it was stopped.
    #[error("k_means timed out for k = {k} after {seconds} s (--timeout)")]
    ChildTimedOut {
        /// The K it was run for.
        k: usize,
        /// The time it was allowed.
        seconds: u64,
    },
    /// The run was stopped by a signal (Ctrl-C, `kill`, a closed terminal) or by a closed
    /// standard output; everything it made was removed.
    #[error("interrupted by signal {signal}; nothing was written")]
    Interrupted {
        /// The signal's number (SIGPIPE's when standard output was closed).
        signal: i32,
    },
}

impl AppError {
    /// An encoding failure of the file at `path`.
    pub(crate) fn encode(
        path: PathBuf,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Encode {
            path,
            source: Box::new(source),
        }
    }
}

/// The app's result type.
pub type Result<T, E = AppError> = std::result::Result<T, E>;
