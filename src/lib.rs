//! # kquant
//!
//! Redraw a picture with only K colours, using k-means clustering, and find a good K.
//!
//! A faithful, fast port of a small Python project: random initial centroids in the RGB cube,
//! Lloyd's epochs (assign every pixel to its nearest centroid, move each centroid to the mean of its
//! pixels) until convergence or 20 epochs, 20 restarts keeping the lowest loss. The clustering runs on
//! the picture's distinct colours weighted by their pixel counts ([`ColorHistogram`], [`Points`]),
//! which gives exactly the result of running on every pixel, much faster.
//!
//! ## The palette of a picture
//!
//! ```
//! use kquant::{fit, ColorHistogram, Init, KMeansParams, Palette, Points, EmptyPolicy};
//!
//! // Any RGB pixels: here two dark and two light ones.
//! let pixels = [[0, 0, 0], [4, 4, 4], [250, 250, 250], [254, 254, 254]];
//! let points = Points::from_histogram(&ColorHistogram::from_rgb(&pixels));
//! // The best-palette mode: k-means++ seeding, empty clusters reseeded, run to convergence.
//! let params = KMeansParams::new(2)
//!     .seed(42)
//!     .init(Init::KMeansPlusPlus)
//!     .empty(EmptyPolicy::Reseed)
//!     .max_epochs(300);
//! let clustering = fit(&points, &params, |_restart| {})?;
//! let palette = Palette::from_clustering(&clustering, &points)?;
//! assert_eq!(palette.colors().len(), 2);
//! assert!(palette.colors().contains(&[2, 2, 2]) && palette.colors().contains(&[252, 252, 252]));
//! assert!((clustering.loss() - 12f64.sqrt()).abs() < 1e-9);
//! # Ok::<(), kquant::Error>(())
//! ```
//!
//! ## Remap a picture to a palette
//!
//! A palette made by clustering, or one people bring (read with [`parse_palette_text`], or
//! [`parse_ase`] for an Adobe Swatch Exchange file):
//!
//! ```
//! use kquant::{dither, draw, parse_palette_text, Palette, Picture};
//!
//! let colours = parse_palette_text("#000000\n#ffffff\n#ff0000\n").expect("three colours");
//! let palette = Palette::from_colors(&colours)?;
//! // A 2x2 RGBA picture; the transparent pixel stays transparent.
//! let picture = Picture::from_rgba(2, 2, &[
//!     [10, 10, 10, 255], [240, 250, 245, 255],
//!     [200, 30, 20, 255], [0, 0, 0, 0],
//! ])?;
//! let indices = palette.remap(&picture); // or dither(&picture, &palette)
//! assert_eq!(indices, [Some(0), Some(1), Some(2), None]);
//! let rgb = draw(&palette, &indices);
//! assert_eq!(rgb[..3], [[0, 0, 0], [255, 255, 255], [255, 0, 0]]);
//! assert_eq!(dither(&picture, &palette).len(), 4);
//! # Ok::<(), kquant::Error>(())
//! ```
//!
//! ## Choose K
//!
//! The loss (mean distance of a pixel to its colour) for each K, and the elbow of that curve:
//!
//! ```
//! use kquant::{fit, suggest_k, ColorHistogram, KMeansParams, Points};
//!
//! // Pixels around three colours.
//! let pixels: Vec<[u8; 3]> = (0..300u32)
//!     .map(|i| {
//!         let base = [[20, 20, 20], [200, 40, 40], [40, 40, 220]][(i % 3) as usize];
//!         base.map(|v: u8| v + (i % 7) as u8)
//!     })
//!     .collect();
//! let points = Points::from_histogram(&ColorHistogram::from_rgb(&pixels));
//! let curve: Vec<(usize, f64)> = (1..=8)
//!     .map(|k| {
//!         let clustering = fit(&points, &KMeansParams::new(k).seed(1), |_| {})?;
//!         Ok((k, clustering.loss()))
//!     })
//!     .collect::<kquant::Result<_>>()?;
//! assert_eq!(suggest_k(&curve), Some(3));
//! # Ok::<(), kquant::Error>(())
//! ```
//!
//! ## Features
//!
//! - The core (always): [`fit`] and [`KMeansParams`] (k-means++ seeding with [`Init`], empty
//!   clusters reseeded with [`EmptyPolicy`], fixed colours, CIELAB and Oklab with [`ColorSpace`]),
//!   the exact engine in [`kmeans`], [`Palette`], [`dither`], palette file formats
//!   ([`PaletteFormat`]; Adobe's binary ones both ways: [`parse_ase`] and [`ase_bytes`],
//!   [`parse_aco`] and [`aco_bytes`], [`parse_act`] and [`act_bytes`]) and [`suggest_k`]. Its
//!   dependencies: `rand`, `rand_chacha`, `rayon`, `thiserror`.
//! - `image-io`: the `io` module, reading image files within limits (refusing damaged and oversized ones)
//!   and writing JPEG and indexed PNG.
//! - `cli` (default): the `k_means` and `find_k` binaries and their glue in `app`.
//!
//! With `default-features = false` the core builds without the image decoders, `clap`, plotting,
//! fonts or progress bars.

#[cfg(feature = "cli")]
pub mod app;
pub mod colorspace;
mod diffusion;
mod elbow;
mod error;
#[cfg(feature = "image-io")]
pub mod io;
pub mod kmeans;
mod palette;
mod palette_ase;
mod palette_photoshop;
mod palette_search;
mod palette_text;
mod parts;
mod pixels;

pub use colorspace::ColorSpace;
pub use elbow::suggest_k;
pub use error::{Error, Result};
pub use kmeans::{
    fit, Clustering, Color, EmptyPolicy, EpochStats, Init, KMeansParams, Keep, Points, Run,
};
pub use palette::{dither, draw, palette_indices, Palette, PaletteEntry, TRANSPARENT_FILL};
pub use palette_ase::{ase_bytes, parse_ase, AseError, ASE_SIGNATURE};
pub use palette_photoshop::{aco_bytes, act_bytes, parse_aco, parse_act, PhotoshopPaletteError};
pub use palette_text::{
    colors_text, gpl_text, hex, hex_text, json_text, parse_palette_text, PaletteFormat,
    PaletteTextError,
};
pub use pixels::{ColorHistogram, Picture, MAX_PICTURE_PIXELS};
