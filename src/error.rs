//! The core's error: a parameter or an input that the algorithms cannot take.

/// What the core (k-means, palettes, points) refuses. Messages are lowercase, without a trailing
/// period, so a binary can print `error: {e}` as one clear line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A count is outside the range the algorithm accepts.
    #[error("invalid {name}: must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// The parameter's name as the user knows it (`k`, `restarts`, `max-epochs`).
        name: &'static str,
        /// The value given.
        value: usize,
        /// The smallest value accepted.
        min: usize,
        /// The largest value accepted.
        max: usize,
    },
    /// More fixed colours than centroids.
    #[error("invalid fixed colours: {fixed} fixed colours do not fit in k = {k}")]
    TooManyFixed {
        /// How many fixed colours were given.
        fixed: usize,
        /// The number of centroids.
        k: usize,
    },
    /// Points made of a different number of colours and weights.
    #[error("invalid points: {colors} colours but {weights} weights")]
    WeightsMismatch {
        /// How many colours.
        colors: usize,
        /// How many weights.
        weights: usize,
    },
    /// A coordinate that is NaN, infinite, or further than [`crate::kmeans::MAX_COORDINATE`]
    /// from 0.
    #[error("invalid {what}: coordinates must be finite numbers within ±1000000")]
    Coordinate {
        /// What holds it (`point`, `centroid`).
        what: &'static str,
    },
    /// There is nothing to cluster or draw (no point, no pixel, no palette colour).
    #[error("invalid {what}: it is empty")]
    Empty {
        /// What is empty (`points`, `palette`, ...).
        what: &'static str,
    },
    /// A picture of more pixels than a colour's count holds ([`crate::MAX_PICTURE_PIXELS`]).
    #[error(
        "invalid picture: {width}x{height} is more than the {} pixels a picture may have",
        crate::MAX_PICTURE_PIXELS
    )]
    PictureTooLarge {
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
    },
    /// A picture whose pixel buffers do not match its size.
    #[error("invalid picture: {width}x{height} needs {expected} pixels, got {got}")]
    PictureSize {
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
        /// Pixels that size needs.
        expected: u64,
        /// Pixels (or alpha values) given.
        got: usize,
    },
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
