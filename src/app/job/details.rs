//! The text of a run: the summary line `k_means` prints and the entries of `details.txt`.

use super::measure::{Scores, Timings};
use super::Loaded;
use crate::app::report::plural;
use crate::app::spec::{empty_name, init_name, seed_text, JobSpec};
use crate::colorspace::ColorSpace;
use crate::kmeans::{Clustering, KMeansParams};
use crate::palette::Palette;
use crate::palette_text::hex;

/// The line `k_means` prints last, e.g. `k = 16: loss 14.920430 after 20 epochs (epoch limit), 6 of
/// 16 colours used, PSNR 28.17 dB, restart 1 of 1 kept`.
pub(super) fn summary(
    spec: &JobSpec,
    params: &KMeansParams,
    clustering: &Clustering,
    palette: &Palette,
    scores: &Scores,
) -> String {
    let best = &clustering.best;
    let how = if spec.palette.is_some() {
        "with the given palette".to_string()
    } else {
        format!(
            "after {} epoch{} ({})",
            best.epochs,
            plural(best.epochs),
            if best.converged {
                "converged"
            } else {
                "epoch limit"
            }
        )
    };
    let kept = if spec.palette.is_some() {
        String::new()
    } else {
        format!(
            ", restart {} of {} kept",
            clustering.restart + 1,
            params.restarts
        )
    };
    format!(
        "k = {}: loss {:.6}{} {how}, {} of {} colours used, PSNR {:.2} dB{}{kept}",
        spec.k,
        scores.space,
        match spec.options.space {
            ColorSpace::Rgb => String::new(),
            space => format!(" ({}; RGB loss {:.4})", space.name(), scores.rgb),
        },
        palette.len(),
        spec.k,
        scores.quality.psnr,
        scores
            .dithered
            .map(|d| format!(" ({:.2} dB dithered)", d.psnr))
            .unwrap_or_default(),
    )
}

pub(super) fn details_entries(
    spec: &JobSpec,
    params: &KMeansParams,
    clustering: &Clustering,
    palette: &Palette,
    loaded: &Loaded,
    scores: &Scores,
    timings: &Timings,
) -> Vec<(&'static str, String)> {
    let best = &clustering.best;
    let flags = spec.flags_text();
    let mut entries = vec![
        ("image", spec.image.display().to_string()),
        (
            "image size",
            format!("{}x{}", loaded.picture.width, loaded.picture.height),
        ),
        ("pixels clustered", loaded.points.total_weight().to_string()),
        ("distinct colours", loaded.hist.len().to_string()),
        ("k", spec.k.to_string()),
        (
            "flags",
            if flags.is_empty() {
                "(none)".into()
            } else {
                flags
            },
        ),
        ("seed", seed_text(params.seed, params.init)),
        ("restarts", params.restarts.to_string()),
        ("max epochs", params.max_epochs.to_string()),
        ("best restart", (clustering.restart + 1).to_string()),
    ];
    if let Some((path, _)) = &spec.palette {
        entries.push(("palette file", path.display().to_string()));
    }
    if let Some((path, colors)) = &spec.fixed {
        let list: Vec<String> = colors.iter().map(|&c| hex(c)).collect();
        entries.push((
            "fixed colours",
            format!("{} ({})", list.join(", "), path.display()),
        ));
    }
    if params.keep == crate::kmeans::Keep::LowestSse {
        entries.push(("restart kept by", "lowest SSE (best mode)".to_string()));
    }
    entries.extend([
        (
            "epochs run",
            format!(
                "{} ({})",
                best.epochs,
                if best.converged {
                    "converged"
                } else {
                    "stopped at the epoch limit"
                }
            ),
        ),
        ("space", spec.options.space.name().to_string()),
        ("final loss", format!("{:.6}", scores.space)),
        ("final loss in RGB units", format!("{:.6}", scores.rgb)),
        ("SSE", format!("{:.1}", scores.sse)),
        (
            "colours used",
            format!(
                "{} of {} ({} centroids unused)",
                palette.len(),
                spec.k,
                palette.unused
            ),
        ),
        ("init", init_name(params.init).to_string()),
        ("empty clusters", empty_name(params.empty).to_string()),
        ("MSE", format!("{:.4}", scores.quality.mse)),
        ("PSNR", format!("{:.2} dB", scores.quality.psnr)),
        (
            "colour shares",
            palette
                .entries
                .iter()
                .map(|e| {
                    format!(
                        "{} {:.2}%",
                        hex(e.rgb),
                        100.0 * e.pixels as f64 / palette.total_pixels() as f64
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]);
    if spec.timings {
        entries.push(("timings", timings.line()));
    }
    if let Some(dithered) = scores.dithered {
        let after_psnr = entries
            .iter()
            .position(|&(name, _)| name == "PSNR")
            .map_or(entries.len(), |i| i + 1);
        entries.splice(
            after_psnr..after_psnr,
            [
                ("MSE of the dithered image", format!("{:.4}", dithered.mse)),
                (
                    "PSNR of the dithered image",
                    format!("{:.2} dB", dithered.psnr),
                ),
            ],
        );
    }
    entries
}
