//! The one error type of the library: a variant per rule that input or the file system can break.

use std::path::PathBuf;

/// Everything that can go wrong in `kquant`. Messages are lowercase, without a trailing period, and
/// name the file involved, so a binary can print `error: {e}` as one clear line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image file could not be opened or read.
    #[error("cannot read image '{path}': {source}")]
    ReadImage {
        /// The path as the user gave it.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file was read but is not an image the decoder understands (or is truncated).
    #[error("cannot read image '{path}': {message}")]
    DecodeImage {
        /// The path as the user gave it.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// The picture the file describes has more pixels than the limit allows; refused from its
    /// header, before any pixel was decoded.
    #[error("cannot read image '{path}': it is {width}x{height} pixels, more than the limit of {max_pixels} pixels (--max-pixels raises it)")]
    TooLarge {
        /// The path as the user gave it.
        path: PathBuf,
        /// Width the file claims.
        width: u32,
        /// Height the file claims.
        height: u32,
        /// The limit in force.
        max_pixels: u64,
    },
    /// The file is larger than any picture within the pixel limit needs.
    #[error("cannot read image '{path}': the file is larger than the limit of {max_bytes} bytes for pictures of up to {max_pixels} pixels (--max-pixels raises it)")]
    FileTooLarge {
        /// The path as the user gave it.
        path: PathBuf,
        /// The largest file read.
        max_bytes: u64,
        /// The pixel limit it follows from.
        max_pixels: u64,
    },
    /// A palette file (`--palette`) cannot be used.
    #[error("cannot read palette '{path}': {message}")]
    PaletteFile {
        /// The path as the user gave it.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Every pixel is fully transparent, so there is no colour to cluster.
    #[error("image '{path}' has no opaque pixels to cluster")]
    NoOpaquePixels {
        /// The path as the user gave it.
        path: PathBuf,
    },
    /// A parameter is outside the range the algorithm accepts.
    #[error("invalid {name}: {message}")]
    InvalidParameter {
        /// The parameter's name as the user knows it (`k`, `restarts`, ...).
        name: &'static str,
        /// Why the value is refused.
        message: String,
    },
    /// An output file or folder could not be written.
    #[error("cannot write '{path}': {source}")]
    Write {
        /// The file or folder that could not be written.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A name kquant would write is taken by something it must not write through or replace
    /// (a symbolic link, a folder, a device).
    #[error("cannot write '{path}': {why}")]
    Unsafe {
        /// The name that is taken.
        path: PathBuf,
        /// What stands there, and that nothing was changed.
        why: String,
    },
    /// An output image or plot could not be encoded.
    #[error("cannot encode '{path}': {message}")]
    Encode {
        /// The file being made.
        path: PathBuf,
        /// What the encoder or plotting library said.
        message: String,
    },
    /// The `k_means` binary that `find_k` runs could not be found or started.
    #[error("cannot run k_means at '{looked}': {why}")]
    MissingKMeans {
        /// Where it was looked for.
        looked: PathBuf,
        /// Why it could not be used.
        why: String,
    },
    /// A `k_means` child of `find_k` failed.
    #[error("k_means failed for k = {k}: {why}")]
    ChildFailed {
        /// The K it was run for.
        k: usize,
        /// The child's own error line.
        why: String,
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

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
