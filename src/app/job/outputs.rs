//! The files of a run, made and staged in the run folder in the order they are listed.

use super::measure::Quality;
use super::Loaded;
use crate::app::error::{AppError as Error, Result};
use crate::app::plot;
use crate::app::report::{loss_text, plural};
use crate::app::run_dir::Staging;
use crate::app::spec::JobSpec;
use crate::io::{encode_indexed_png, encode_palette_jpeg};
use crate::kmeans::{Clustering, Color};
use crate::palette::{dither, palette_indices, Palette};
use crate::palette_text::colors_text;

pub(super) fn stage_outputs(
    spec: &JobSpec,
    loaded: &Loaded,
    clustering: &Clustering,
    palette: &Palette,
    staging: &mut Staging,
    lines: &mut Vec<String>,
) -> Result<Option<Quality>> {
    let k = spec.k;
    let best = &clustering.best;
    if spec.outputs.graph && spec.palette.is_some() {
        lines.push("loss graph: nothing to draw (--palette runs no epochs)".into());
    }
    let mut put = |staging: &mut Staging, name: String, bytes: &[u8], what: String| {
        staging.write(&name, bytes)?;
        lines.push(format!(
            "{what} saved to {}",
            staging.final_path(&name).display()
        ));
        Ok::<(), Error>(())
    };
    let run_dir = staging.run_dir().to_path_buf();
    let encode_err = |name: &str, e: Box<dyn std::error::Error + Send + Sync>| Error::Encode {
        path: run_dir.join(name),
        source: e,
    };
    if spec.outputs.colors {
        let what = format!(
            "colours ({} used, {} of {} centroids unused)",
            palette.len(),
            palette.unused,
            k
        );
        put(
            staging,
            format!("colors_k{k}.txt"),
            colors_text(palette).as_bytes(),
            what,
        )?;
        for format in &spec.palette_formats {
            let ext = format.extension();
            put(
                staging,
                format!("colors_k{k}.{ext}"),
                &format.contents(palette, k),
                format!("colours ({ext})"),
            )?;
        }
    }
    if spec.outputs.graph && spec.palette.is_none() {
        let name = format!("loss_graph_k{k}.png");
        let unit = clustering.space.unit();
        let losses: Vec<f64> = best.history.iter().map(|s| s.loss / unit).collect();
        let png = plot::loss_graph(&losses, k).map_err(|e| encode_err(&name, e.into()))?;
        put(staging, name, &png, "loss graph".into())?;
    }
    if spec.outputs.loss {
        let text = loss_text(best.stats.loss / clustering.space.unit());
        put(
            staging,
            format!("loss_k{k}.txt"),
            text.as_bytes(),
            format!("loss ({})", text.trim()),
        )?;
    }
    let indices = (spec.outputs.image || spec.png).then(|| {
        if spec.dither {
            dither(&loaded.picture, palette)
        } else {
            palette_indices(&loaded.picture, &loaded.hist, palette)
        }
    });
    let dithered = indices
        .as_ref()
        .filter(|_| spec.dither)
        .map(|indices| Quality::of_drawing(&loaded.picture, palette, indices));
    if let Some(indices) = indices {
        if spec.outputs.image {
            let name = format!("final_image_k{k}.jpeg");
            let jpeg = encode_palette_jpeg(&loaded.picture, palette, &indices)
                .map_err(|e| encode_err(&name, e.into()))?;
            put(staging, name, &jpeg, "final image".into())?;
        }
        if spec.png {
            let name = format!("final_image_k{k}.png");
            let png = encode_indexed_png(&loaded.picture, palette, &indices)
                .map_err(|e| encode_err(&name, e.into()))?;
            // (A pipe's size is not known: standard input, `<(curl ...)`.)
            let input = std::fs::metadata(&spec.image)
                .ok()
                .filter(|m| m.is_file() && !spec.reads_stdin())
                .map_or(String::new(), |m| {
                    format!("; the input is {} KB", m.len().div_ceil(1024))
                });
            let what = format!(
                "final image as PNG ({} colour{}, {} KB{input})",
                palette.len(),
                plural(palette.len()),
                png.len().div_ceil(1024),
            );
            put(staging, name, &png, what)?;
        }
    }
    if spec.swatch {
        let name = format!("palette_k{k}.png");
        let total = palette.total_pixels().max(1) as f64;
        let colors: Vec<([u8; 3], f64)> = palette
            .entries
            .iter()
            .map(|e| (e.rgb, e.pixels as f64 / total))
            .collect();
        let png = plot::swatch(&colors, k).map_err(|e| encode_err(&name, e.into()))?;
        put(staging, name, &png, "palette swatch".into())?;
    }
    if spec.outputs.models {
        let sample = plot::sample_colors(&loaded.hist, plot::MODEL_SAMPLE);
        let name = format!("3D_model_init_k{k}.png");
        let initial: Vec<Color> = best
            .initial
            .iter()
            .map(|&c| spec.options.space.decode(c))
            .collect();
        let png =
            plot::model_init(&sample, &initial, k).map_err(|e| encode_err(&name, e.into()))?;
        put(
            staging,
            name,
            &png,
            "3D model of the initial centroids".into(),
        )?;
        let name = format!("3D_model_after_k{k}.png");
        let used: Vec<_> = palette.entries.iter().map(|e| e.exact).collect();
        let png = plot::model_after(&sample, &used, k).map_err(|e| encode_err(&name, e.into()))?;
        put(
            staging,
            name,
            &png,
            "3D model of the final centroids".into(),
        )?;
    }
    Ok(dithered)
}
