//! The parameters of a k-means run, as a validated builder.

use crate::colorspace::ColorSpace;
use crate::error::{Error, Result};

/// The largest K: palette indices are stored in a byte, and a palette image holds 256 colours.
pub const MAX_K: usize = 256;

/// The most restarts a run makes. Each restart's loss is kept for the report (8 bytes each), and
/// a thousand already leave the best of them no better than the best of a hundred in practice.
pub const MAX_RESTARTS: usize = 1000;

/// The most epochs a restart runs. Exact Lloyd on a photo converges in a few hundred; this bounds
/// the time a mistyped number can cost, not the memory (which does not grow with epochs).
pub const MAX_EPOCHS: usize = 100_000;

/// Which restart a fit keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Keep {
    /// The lowest loss (mean distance of a pixel to its centroid): the original program's choice.
    #[default]
    LowestLoss,
    /// The lowest sum of squared errors: what Lloyd's algorithm minimises and what PSNR measures.
    LowestSse,
}

/// How each restart chooses its initial centroids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum Init {
    /// K points drawn uniformly in the RGB cube: the original program's method.
    #[default]
    Random,
    /// k-means++ seeding (D. Arthur and S. Vassilvitskii, "k-means++: the advantages of careful
    /// seeding", SODA 2007), with each colour weighted by its pixel count.
    #[cfg_attr(feature = "cli", value(name = "kmeans++"))]
    KMeansPlusPlus,
    /// Wu's quantizer (X. Wu, 1991): the colour cube cut again and again at the plane that most
    /// reduces the error of the box with the largest, each final box's mean a centroid. It needs
    /// no seed and starts near a good partition; every restart would start the same, so one run
    /// is made, however many restarts are asked for.
    // (This is also `--init wu`'s --help text: no rustdoc links here.)
    Wu,
}

/// What happens to a centroid that no point is nearest to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum EmptyPolicy {
    /// It stays where it is (the original's behaviour), so the result may use fewer than K colours.
    #[default]
    Keep,
    /// It moves to the point that is worst served (farthest from its centroid), so the result has
    /// min(K, distinct colours) colours.
    Reseed,
}

/// Parameters of [`crate::fit`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KMeansParams {
    /// Number of centroids (colours), 1..=256.
    pub k: usize,
    /// Number of restarts from new random centroids; the best is kept.
    pub restarts: usize,
    /// Maximum number of epochs per restart.
    pub max_epochs: usize,
    /// Seed of the random initial centroids.
    pub seed: u64,
    /// How initial centroids are chosen.
    pub init: Init,
    /// What happens to empty clusters.
    pub empty: EmptyPolicy,
    /// The space the points are in; random initial centroids are drawn in the RGB cube and
    /// converted to it.
    pub space: ColorSpace,
    /// Whether the best restart's loss after every epoch is wanted ([`crate::Run::history`]);
    /// it costs one more run of that restart.
    pub history: bool,
    /// Which restart is kept.
    pub keep: Keep,
    /// Colours (sRGB) that must be in the palette: the first centroids of every restart, which
    /// never move. At most `k`.
    pub fixed: Vec<[u8; 3]>,
}

impl KMeansParams {
    /// Parameters for `k` colours with the original program's defaults: 20 restarts, at most 20
    /// epochs each, seed 0, uniform random initial centroids, empty clusters kept, and the loss history
    /// recorded.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            restarts: 20,
            max_epochs: 20,
            seed: 0,
            init: Init::Random,
            empty: EmptyPolicy::Keep,
            space: ColorSpace::Rgb,
            history: true,
            keep: Keep::LowestLoss,
            fixed: Vec::new(),
        }
    }

    /// Sets the colours that must be in the palette.
    pub fn fixed(mut self, fixed: Vec<[u8; 3]>) -> Self {
        self.fixed = fixed;
        self
    }

    /// Sets which restart is kept.
    pub fn keep(mut self, keep: Keep) -> Self {
        self.keep = keep;
        self
    }

    /// Sets whether the best restart's loss history is recorded.
    pub fn history(mut self, history: bool) -> Self {
        self.history = history;
        self
    }

    /// Sets the colour space of the points.
    pub fn space(mut self, space: ColorSpace) -> Self {
        self.space = space;
        self
    }

    /// Sets how initial centroids are chosen.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Sets what happens to empty clusters.
    pub fn empty(mut self, empty: EmptyPolicy) -> Self {
        self.empty = empty;
        self
    }

    /// Sets the number of restarts.
    pub fn restarts(mut self, restarts: usize) -> Self {
        self.restarts = restarts;
        self
    }

    /// Sets the maximum number of epochs per restart.
    pub fn max_epochs(mut self, max_epochs: usize) -> Self {
        self.max_epochs = max_epochs;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks every parameter before any work starts.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] naming the first count out of range, or [`Error::TooManyFixed`].
    pub fn validate(&self) -> Result<()> {
        let check = |name, value, max| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(Error::OutOfRange {
                    name,
                    value,
                    min: 1,
                    max,
                })
            }
        };
        check("k", self.k, MAX_K)?;
        if self.fixed.len() > self.k {
            return Err(Error::TooManyFixed {
                fixed: self.fixed.len(),
                k: self.k,
            });
        }
        check("restarts", self.restarts, MAX_RESTARTS)?;
        check("max-epochs", self.max_epochs, MAX_EPOCHS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_originals() {
        let p = KMeansParams::new(16);
        assert_eq!((p.k, p.restarts, p.max_epochs), (16, 20, 20));
        assert!(p.validate().is_ok());
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert!(KMeansParams::new(0).validate().is_err());
        assert!(KMeansParams::new(257).validate().is_err());
        assert!(KMeansParams::new(256).validate().is_ok());
        assert!(KMeansParams::new(2).restarts(0).validate().is_err());
        assert!(KMeansParams::new(2).max_epochs(0).validate().is_err());
        assert!(KMeansParams::new(2)
            .restarts(MAX_RESTARTS)
            .validate()
            .is_ok());
        assert!(KMeansParams::new(2)
            .restarts(MAX_RESTARTS + 1)
            .validate()
            .is_err());
        assert!(KMeansParams::new(2)
            .max_epochs(MAX_EPOCHS)
            .validate()
            .is_ok());
        assert!(KMeansParams::new(2)
            .max_epochs(MAX_EPOCHS + 1)
            .validate()
            .is_err());
    }
}
