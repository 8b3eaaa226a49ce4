//! # kquant
//!
//! Redraw a photo with only K colours, using k-means clustering, and find a good K.
//!
//! A faithful, fast port of a small Python project: random initial centroids in the RGB cube,
//! Lloyd's epochs (assign every pixel to its nearest centroid, move each centroid to the mean of its
//! pixels) until convergence or 20 epochs, 20 restarts keeping the lowest loss. The clustering runs on
//! the image's distinct colours weighted by their pixel counts, which gives the same result as running
//! on every pixel, much faster.
//!
//! ```
//! use kquant::{fit, ColorHistogram, KMeansParams, Palette, Picture, Points};
//!
//! // A 4x1 picture with two dark and two light pixels.
//! let picture = Picture::from_rgb(4, 1, vec![[0, 0, 0], [4, 4, 4], [250, 250, 250], [254, 254, 254]]);
//! let hist = ColorHistogram::from_picture(&picture);
//! let points = Points::from_histogram(&hist);
//! let clustering = fit(&points, &KMeansParams::new(2).seed(42), |_restart| {})?;
//! let palette = Palette::from_clustering(&clustering, &points);
//! let colours: Vec<[u8; 3]> = palette.entries.iter().map(|e| e.rgb).collect();
//! assert!(colours.contains(&[2, 2, 2]) && colours.contains(&[252, 252, 252]));
//! assert!((clustering.best.stats.loss - 12f64.sqrt()).abs() < 1e-9);
//! # Ok::<(), kquant::Error>(())
//! ```
//!
//! Beyond the original, [`KMeansParams`] can seed with k-means++ ([`Init`]), reseed empty clusters
//! ([`EmptyPolicy`]) and cluster in CIELAB or Oklab ([`ColorSpace`]); [`dither`] draws with
//! Floyd-Steinberg error diffusion and [`encode_indexed_png`] writes a true palette image.
//!
//! Loading a file is [`load_picture`]; a whole `k_means` run, folder and files included, is
//! [`run_job`]; `find_k`'s sweep is [`run_sweep`], and its suggestion [`suggest_k`].

mod batch;
mod cleanup;
mod cli_args;
mod colorspace;
mod elbow;
mod error;
mod image_file;
mod indexed_png;
mod job;
mod jpeg;
mod jpeg_check;
mod kmeans;
mod palette;
mod palette_file;
mod pixels;
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
pub use colorspace::{lab_to_srgb, oklab_to_srgb, srgb_to_lab, srgb_to_oklab, ColorSpace};
pub use elbow::suggest_k;
pub use error::{Error, Result};
pub use image_file::{
    decode_picture, load_picture, load_picture_with, panic_is_handled, LoadLimits,
    DEFAULT_MAX_PIXELS,
};
pub use indexed_png::encode as encode_indexed_png;
pub use job::{output_path, random_seed, run_job, JobReport, Quality, Timings};
pub use jpeg::{encode_jpeg, encode_palette_jpeg, JPEG_QUALITY};
pub use kmeans::{
    cluster_sizes, dist2, fit, initial_centroids, lloyd, lloyd_fixed, loss_of, nearest,
    random_centroids, to_color, to_rgb8, Clustering, Color, EmptyPolicy, EpochStats, Init,
    KMeansParams, Keep, Points, Run, MAX_EPOCHS, MAX_RESTARTS,
};
pub use palette::{dither, draw, palette_indices, Palette, PaletteEntry, TRANSPARENT_FILL};
pub use palette_file::{fixed_of_k, palette_of_k, parse_palette_text, read_palette_file};
pub use pixels::{color_key, key_color, picture_from_dynamic, ColorHistogram, Picture};
pub use progress::progress_bar;
pub use report::{
    colors_text, details_text, gpl_text, hex, hex_text, json_text, loss_text, parse_loss,
    PaletteFormat,
};
pub use run_dir::{canonical_text, folder_name, path_entry, Staging};
pub use spec::{
    default_max_epochs, empty_name, init_name, ClusterOptions, JobSpec, Outputs,
    DEFAULT_MAX_EPOCHS, DEFAULT_MAX_EPOCHS_KMEANS_PP, DEFAULT_OUT_DIR, DEFAULT_RESTARTS,
};
pub use sweep::{
    default_jobs, k_means_args, locate_k_means, loss_line, losses_csv, run_sweep, suggestion_line,
    SweepReport, SweepSpec, DEFAULT_K_MAX, DEFAULT_K_MIN,
};
