//! What a `k_means` run is asked to do: its options, the files it writes, and the canonical text that
//! names its run folder.

use std::path::PathBuf;

use crate::app::run_dir::{canonical_text, folder_name, path_entry};
use crate::colorspace::ColorSpace;
use crate::io::{LoadLimits, DEFAULT_MAX_PIXELS};
use crate::kmeans::{EmptyPolicy, Init, KMeansParams, Keep};
use crate::palette_text::PaletteFormat;

/// Default number of restarts, as in the original.
pub const DEFAULT_RESTARTS: usize = 20;
/// Default maximum number of epochs per restart, as in the original.
pub const DEFAULT_MAX_EPOCHS: usize = 20;
/// Default maximum number of epochs with k-means++ seeding, which asks for the best palette rather
/// than the original's behaviour: enough to converge, as scikit-learn's `max_iter`.
pub const DEFAULT_MAX_EPOCHS_KMEANS_PP: usize = 300;

/// The maximum number of epochs when `--max-epochs` is not given, which depends on the seeding.
pub fn default_max_epochs(init: Init) -> usize {
    match init {
        Init::Random => DEFAULT_MAX_EPOCHS,
        Init::KMeansPlusPlus | Init::Wu => DEFAULT_MAX_EPOCHS_KMEANS_PP,
    }
}
/// Default folder that run folders go in.
pub const DEFAULT_OUT_DIR: &str = "output";

/// Which optional files to write (the original's flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outputs {
    /// `-c`: `colors_k{K}.txt`.
    pub colors: bool,
    /// `-g`: `loss_graph_k{K}.png`.
    pub graph: bool,
    /// `-l`: `loss_k{K}.txt`.
    pub loss: bool,
    /// `-i`: `final_image_k{K}.jpeg`.
    pub image: bool,
    /// `-p`: `3D_model_init_k{K}.png` and `3D_model_after_k{K}.png`.
    pub models: bool,
}

/// The options that change how colours are clustered, as `k_means` takes them and `find_k` passes
/// them on. `None` means the option was not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `--seed`; a random one is drawn (and recorded) when absent.
    pub seed: Option<u64>,
    /// `--restarts`; 20 when absent (1 with `-o` or `--init wu`).
    pub restarts: Option<usize>,
    /// `--max-epochs`; when absent 20, or 300 with k-means++ or Wu (see
    /// [`ClusterOptions::effective_max_epochs`]).
    pub max_epochs: Option<usize>,
    /// `--init`: how initial centroids are chosen.
    pub init: Init,
    /// `--empty`: what happens to empty clusters.
    pub empty: EmptyPolicy,
    /// `--space`: the colour space to cluster in.
    pub space: ColorSpace,
    /// `--max-pixels`: the largest picture read ([`DEFAULT_MAX_PIXELS`] when absent). It changes
    /// what is refused, never a result, so it is not part of the run folder's name.
    pub max_pixels: Option<u64>,
}

impl ClusterOptions {
    /// Whether these are the best-palette mode's options (`--best`: k-means++ seeding and empty
    /// clusters reseeded).
    pub fn is_best_mode(&self) -> bool {
        self.init == Init::KMeansPlusPlus && self.empty == EmptyPolicy::Reseed
    }

    /// Which restart is kept: in the best mode the lowest SSE (what PSNR measures), otherwise the
    /// original's lowest loss.
    pub fn keep(&self) -> Keep {
        if self.is_best_mode() {
            Keep::LowestSse
        } else {
            Keep::LowestLoss
        }
    }

    /// The limits on the pictures read.
    pub fn load_limits(&self) -> LoadLimits {
        LoadLimits::new(self.max_pixels.unwrap_or(DEFAULT_MAX_PIXELS))
    }

    /// The seed of a run with these options: `--seed`, or one drawn from the operating system's
    /// randomness (a new one each call, so call it once per run).
    pub fn resolve_seed(&self) -> u64 {
        self.seed.unwrap_or_else(crate::app::job::random_seed)
    }

    /// The number of restarts these options give, with `-o` (one round) or without (one with Wu's
    /// start, which is the same every time).
    pub fn restarts_with(&self, one_round: bool) -> usize {
        if one_round || self.init == Init::Wu {
            1
        } else {
            self.restarts.unwrap_or(DEFAULT_RESTARTS)
        }
    }

    /// The maximum number of epochs these options give.
    pub fn effective_max_epochs(&self) -> usize {
        self.max_epochs.unwrap_or(default_max_epochs(self.init))
    }

    /// `name: value` entries for a run folder's canonical text: each option given that differs
    /// from its default. Options added after the original come last, so older runs keep their names.
    pub fn canonical_entries(&self) -> Vec<(&'static str, String)> {
        let mut entries = Vec::new();
        if let Some(seed) = self.seed {
            entries.push(("seed", seed.to_string()));
        }
        if let Some(r) = self.restarts.filter(|&r| r != DEFAULT_RESTARTS) {
            entries.push(("restarts", r.to_string()));
        }
        if let Some(e) = self
            .max_epochs
            .filter(|&e| e != default_max_epochs(self.init))
        {
            entries.push(("max-epochs", e.to_string()));
        }
        if self.init != Init::Random {
            entries.push(("init", init_name(self.init).to_string()));
        }
        if self.empty != EmptyPolicy::Keep {
            entries.push(("empty", empty_name(self.empty).to_string()));
        }
        if self.space != ColorSpace::Rgb {
            entries.push(("space", self.space.name().to_string()));
        }
        entries
    }

    /// The command-line arguments that give these options to `k_means`.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |name: &str, value: String| args.extend([name.to_string(), value]);
        if let Some(seed) = self.seed {
            push("--seed", seed.to_string());
        }
        if let Some(r) = self.restarts {
            push("--restarts", r.to_string());
        }
        if let Some(e) = self.max_epochs {
            push("--max-epochs", e.to_string());
        }
        if self.init != Init::Random {
            push("--init", init_name(self.init).to_string());
        }
        if self.empty != EmptyPolicy::Keep {
            push("--empty", empty_name(self.empty).to_string());
        }
        if self.space != ColorSpace::Rgb {
            push("--space", self.space.name().to_string());
        }
        if let Some(m) = self.max_pixels {
            push("--max-pixels", m.to_string());
        }
        args
    }
}

/// Everything a `k_means` run is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The image, as the user wrote its path.
    pub image: PathBuf,
    /// Number of colours.
    pub k: usize,
    /// Optional files.
    pub outputs: Outputs,
    /// `-o`: one restart instead of 20.
    pub one_round: bool,
    /// The options that change the clustering (shared with `find_k`, which passes them on).
    pub options: ClusterOptions,
    /// `--png`: also write `final_image_k{K}.png`, an indexed PNG of exactly the palette's colours.
    pub png: bool,
    /// `--swatch`: also write `palette_k{K}.png`, the palette as bars sized by share of pixels.
    pub swatch: bool,
    /// `--palette FILE`: the file and its first K colours, drawn with instead of clustering.
    pub palette: Option<(PathBuf, Vec<[u8; 3]>)>,
    /// With `palette`: keep every palette colour in the palette written (`colors_k{K}.txt`, the
    /// PNG's palette), used or not, so every image of a set shares one palette (`--shared-palette`).
    pub whole_palette: bool,
    /// `--fixed FILE`: the file and its colours, which must be in the palette (k-means moves only
    /// the other centroids).
    pub fixed: Option<(PathBuf, Vec<[u8; 3]>)>,
    /// `--dither`: Floyd-Steinberg error diffusion when drawing the image files.
    pub dither: bool,
    /// `--palette-format`: palette files written with `-c` besides `colors_k{K}.txt`.
    pub palette_formats: Vec<PaletteFormat>,
    /// Where run folders go.
    pub out_dir: PathBuf,
    /// `--timings`: also write how long each phase took into `details.txt` (left out otherwise,
    /// so the same command and seed write the same files byte for byte).
    pub timings: bool,
}

impl JobSpec {
    /// Whether the image is `-`: standard input.
    pub fn reads_stdin(&self) -> bool {
        self.image.as_os_str() == "-"
    }

    /// A run of `k` colours on `image` with no optional file and every default.
    pub fn new(image: impl Into<PathBuf>, k: usize) -> Self {
        Self {
            image: image.into(),
            k,
            outputs: Outputs::default(),
            one_round: false,
            options: ClusterOptions::default(),
            png: false,
            swatch: false,
            palette: None,
            whole_palette: false,
            fixed: None,
            dither: false,
            palette_formats: Vec::new(),
            out_dir: PathBuf::from(DEFAULT_OUT_DIR),
            timings: false,
        }
    }

    /// The number of restarts this run makes.
    pub fn effective_restarts(&self) -> usize {
        self.options.restarts_with(self.one_round)
    }

    /// The flags as the user would write them, in the original's order (`-c -g -l -i -p -o`).
    pub fn flags_text(&self) -> String {
        self.flags().join(" ")
    }

    /// The flags given, in the original's order (`-c`, `-g`, `-l`, `-i`, `-p`, `-o`).
    pub fn flags(&self) -> Vec<&'static str> {
        let o = &self.outputs;
        [
            (o.colors, "-c"),
            (o.graph, "-g"),
            (o.loss, "-l"),
            (o.image, "-i"),
            (o.models, "-p"),
            (self.one_round, "-o"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| *f)
        .collect()
    }

    /// The canonical text that names the run folder: the image path as given, K, the flags, and each
    /// option that differs from its default. The order of flags on the command line does not matter.
    pub fn canonical_text(&self) -> String {
        let mut entries = vec![
            ("tool", "k_means".to_string()),
            path_entry(&self.image),
            ("k", self.k.to_string()),
            ("flags", self.flags_text()),
        ];
        entries.extend(self.options.canonical_entries());
        if self.png {
            entries.push(("png", "yes".to_string()));
        }
        if self.swatch {
            entries.push(("swatch", "yes".to_string()));
        }
        if let Some((_, colors)) = &self.palette {
            // The colours themselves, not the file's name: a changed file is another run.
            let list: Vec<String> = colors
                .iter()
                .map(|&c| crate::palette_text::hex(c))
                .collect();
            entries.push(("palette", list.join(",")));
            if self.whole_palette {
                entries.push(("whole palette", "yes".to_string()));
            }
        }
        if let Some((_, colors)) = &self.fixed {
            let list: Vec<String> = colors
                .iter()
                .map(|&c| crate::palette_text::hex(c))
                .collect();
            entries.push(("fixed", list.join(",")));
        }
        if self.dither {
            entries.push(("dither", "yes".to_string()));
        }
        if !self.palette_formats.is_empty() {
            entries.push(("palette formats", self.palette_format_list()));
        }
        canonical_text(&entries)
    }

    /// The extra palette formats as written on the command line, e.g. `gpl,json`.
    pub fn palette_format_list(&self) -> String {
        let mut formats = self.palette_formats.clone();
        formats.sort();
        formats.dedup();
        formats
            .iter()
            .map(|f| f.extension())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The run folder's name: `output` and the hex SHA-256 of [`Self::canonical_text`].
    pub fn folder_name(&self) -> String {
        folder_name("output", &self.canonical_text())
    }

    /// The k-means parameters of this run with `seed` (from [`ClusterOptions::resolve_seed`]).
    pub fn params(&self, seed: u64) -> KMeansParams {
        KMeansParams::new(self.k)
            .restarts(self.effective_restarts())
            .max_epochs(self.options.effective_max_epochs())
            .seed(seed)
            .init(self.options.init)
            .empty(self.options.empty)
            .keep(self.options.keep())
            .fixed(
                self.fixed
                    .as_ref()
                    .map(|(_, c)| c.clone())
                    .unwrap_or_default(),
            )
            .space(self.options.space)
            .history(self.outputs.graph)
    }
}

/// The command-line name of an initialisation method.
pub fn init_name(init: Init) -> &'static str {
    match init {
        Init::Random => "random",
        Init::KMeansPlusPlus => "kmeans++",
        Init::Wu => "wu",
    }
}

/// The `seed` entry of a details file: the seed, or, for Wu's start (which draws nothing at
/// random), that none was used, so that nobody takes the number for what made the result.
pub fn seed_text(seed: u64, init: Init) -> String {
    match init {
        Init::Wu => "not used (init wu draws nothing at random)".to_string(),
        Init::Random | Init::KMeansPlusPlus => seed.to_string(),
    }
}

/// The command-line name of an empty-cluster policy.
pub fn empty_name(empty: EmptyPolicy) -> &'static str {
    match empty {
        EmptyPolicy::Keep => "keep",
        EmptyPolicy::Reseed => "reseed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_given_explicitly_name_the_same_folder() {
        let plain = JobSpec::new("dog.jpeg", 16);
        let mut explicit = plain.clone();
        explicit.options.restarts = Some(DEFAULT_RESTARTS);
        explicit.options.max_epochs = Some(DEFAULT_MAX_EPOCHS);
        assert_eq!(plain.folder_name(), explicit.folder_name());
        // With k-means++ the default epoch limit is 300, so 300 is the default there and 20 is not.
        let mut pp = plain.clone();
        pp.options.init = Init::KMeansPlusPlus;
        let mut pp_300 = pp.clone();
        pp_300.options.max_epochs = Some(DEFAULT_MAX_EPOCHS_KMEANS_PP);
        assert_eq!(pp.folder_name(), pp_300.folder_name());
        pp_300.options.max_epochs = Some(DEFAULT_MAX_EPOCHS);
        assert_ne!(pp.folder_name(), pp_300.folder_name());
    }

    #[test]
    fn what_changes_a_result_changes_the_folder_and_nothing_else_does() {
        let base = JobSpec::new("dog.jpeg", 16);
        let changed = |f: &dyn Fn(&mut JobSpec)| {
            let mut s = base.clone();
            f(&mut s);
            s.folder_name() != base.folder_name()
        };
        assert!(changed(&|s| s.k = 8));
        assert!(changed(&|s| s.options.seed = Some(1)));
        assert!(changed(&|s| s.outputs.colors = true));
        assert!(changed(&|s| s.one_round = true));
        assert!(changed(&|s| s.options.space = ColorSpace::Oklab));
        assert!(changed(&|s| s.dither = true));
        assert!(changed(
            &|s| s.palette = Some(("p.hex".into(), vec![[1, 2, 3]]))
        ));
        // The limit on what is read, the timings and where folders go change no result.
        assert!(!changed(&|s| s.options.max_pixels = Some(1000)));
        assert!(!changed(&|s| s.timings = true));
        assert!(!changed(&|s| s.out_dir = "elsewhere".into()));
        // A palette is named by its colours, not its file.
        let mut a = base.clone();
        a.palette = Some(("a.hex".into(), vec![[1, 2, 3]]));
        let mut b = base.clone();
        b.palette = Some(("b.gpl".into(), vec![[1, 2, 3]]));
        assert_eq!(a.folder_name(), b.folder_name());
    }

    #[test]
    fn flags_keep_the_originals_order_and_formats_are_listed_once() {
        let mut s = JobSpec::new("x.png", 4);
        s.one_round = true;
        s.outputs.models = true;
        s.outputs.colors = true;
        assert_eq!(s.flags(), ["-c", "-p", "-o"]);
        assert_eq!(s.flags_text(), "-c -p -o");
        s.palette_formats = vec![PaletteFormat::Json, PaletteFormat::Hex, PaletteFormat::Json];
        assert_eq!(s.palette_format_list(), "hex,json");
    }

    #[test]
    fn restarts_epochs_and_keep_follow_the_options() {
        let mut s = JobSpec::new("x.png", 4);
        assert_eq!(s.effective_restarts(), DEFAULT_RESTARTS);
        s.options.restarts = Some(5);
        assert_eq!(s.effective_restarts(), 5);
        s.one_round = true;
        assert_eq!(s.effective_restarts(), 1);
        assert_eq!(s.options.effective_max_epochs(), DEFAULT_MAX_EPOCHS);
        assert_eq!(s.options.keep(), Keep::LowestLoss);
        s.options.init = Init::KMeansPlusPlus;
        s.options.empty = EmptyPolicy::Reseed;
        assert!(s.options.is_best_mode());
        assert_eq!(s.options.keep(), Keep::LowestSse);
        assert_eq!(
            s.options.effective_max_epochs(),
            DEFAULT_MAX_EPOCHS_KMEANS_PP
        );
        let p = s.params(77);
        assert_eq!((p.restarts, p.max_epochs, p.seed), (1, 300, 77));
        assert_eq!(p.keep, Keep::LowestSse);
        // Wu's start is the same every time: one run, converged by default.
        s.one_round = false;
        s.options.restarts = None;
        s.options.init = Init::Wu;
        assert_eq!(s.effective_restarts(), 1);
        assert_eq!(
            s.options.effective_max_epochs(),
            DEFAULT_MAX_EPOCHS_KMEANS_PP
        );
    }

    #[test]
    fn the_given_seed_is_used_and_an_absent_one_is_drawn_fresh() {
        let mut s = JobSpec::new("x.png", 4);
        s.options.seed = Some(9);
        assert_eq!(s.options.resolve_seed(), 9);
        s.options.seed = None;
        let drawn: std::collections::HashSet<u64> =
            (0..8).map(|_| s.options.resolve_seed()).collect();
        assert!(drawn.len() > 1, "a new seed each run");
    }

    #[test]
    fn options_pass_on_as_the_arguments_that_give_them() {
        let options = ClusterOptions {
            seed: Some(3),
            restarts: Some(7),
            max_epochs: None,
            init: Init::KMeansPlusPlus,
            empty: EmptyPolicy::Reseed,
            space: ColorSpace::Lab,
            max_pixels: Some(100),
        };
        assert_eq!(
            options.args(),
            [
                "--seed",
                "3",
                "--restarts",
                "7",
                "--init",
                "kmeans++",
                "--empty",
                "reseed",
                "--space",
                "lab",
                "--max-pixels",
                "100"
            ]
        );
    }
}
