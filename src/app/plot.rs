//! The plots: loss per epoch, the 3D models of colour space before and after, and loss against K.
//!
//! Drawn with `plotters` into memory and encoded as PNG, with the DejaVu Sans font compiled into the
//! binary, so plots render the same on a machine with no fonts and no system libraries. plotters
//! draws the axes and their tick labels; every other text is laid out by `label`, glyph by glyph.

use std::sync::Once;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color as _, FontStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::label::Label;
use super::report::plural;
use crate::kmeans::Color;
use crate::pixels::ColorHistogram;

/// The font family every plot uses (registered from the embedded DejaVu Sans).
const FONT: &str = "sans-serif";
/// Size of the 2D graphs.
const GRAPH_SIZE: (u32, u32) = (960, 640);
/// Size of the 3D models.
const MODEL_SIZE: (u32, u32) = (900, 800);
/// At most this many distinct colours are drawn in a 3D model, so a huge photo plots quickly.
pub const MODEL_SAMPLE: usize = 6000;

/// A plot that could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// A graph of no point.
    #[error("there is nothing to plot")]
    NoPoints,
    /// Drawing failed (plotters' error).
    #[error("{0}")]
    Draw(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Encoding the PNG failed.
    #[error("{0}")]
    Encode(#[source] image::ImageError),
}

type PlotResult<T> = std::result::Result<T, PlotError>;

fn plot_err(e: impl std::error::Error + Send + Sync + 'static) -> PlotError {
    PlotError::Draw(Box::new(e))
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // DejaVu Sans is a valid font: registration cannot fail.
            let _ = plotters::style::register_font(FONT, style, dejavu::sans::regular());
        }
    });
}

/// Draws with `draw` on a white canvas of `size` and returns the PNG bytes.
fn render(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> PlotResult<()>,
) -> PlotResult<Vec<u8>> {
    register_font();
    let mut buf = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    let mut png = Vec::new();
    // The default compression: on these flat colours and lines `Best` was both slower and larger
    // (README's first command 138 against 80 ms, its plots 1-2 % larger; a swatch of 256 colours,
    // 760x6720, 0.13 s of deflate and 580 against 574 KB).
    PngEncoder::new_with_quality(&mut png, CompressionType::Default, FilterType::Adaptive)
        .write_image(&buf, size.0, size.1, ExtendedColorType::Rgb8)
        .map_err(PlotError::Encode)?;
    Ok(png)
}

/// A y range that frames `values` with a little room above and below.
fn padded_range(values: impl Iterator<Item = f64> + Clone) -> std::ops::Range<f64> {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.05 * hi.abs()).max(1e-3);
    (lo - pad).max(0.0)..hi + pad
}

/// The loss of each epoch of a run: x "iteration" (0 is the initial centroids), y "loss value",
/// titled "K-Means, k = K", with the final value written by the last point.
///
/// # Errors
/// [`PlotError::NoPoints`] for no loss, or when drawing or encoding fails.
pub fn loss_graph(losses: &[f64], k: usize) -> PlotResult<Vec<u8>> {
    line_graph(
        &format!("K-Means, k = {k}"),
        ("iteration", "loss value"),
        &losses
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as f64, l))
            .collect::<Vec<_>>(),
        None,
    )
}

/// Loss against K for `find_k`: x "k", y "loss value", titled "K-Means", every point marked, and the
/// suggested K circled and labelled.
///
/// # Errors
/// [`PlotError::NoPoints`] for no point, or when drawing or encoding fails.
pub fn loss_vs_k(points: &[(usize, f64)], suggested: Option<usize>) -> PlotResult<Vec<u8>> {
    let xy: Vec<(f64, f64)> = points.iter().map(|&(k, l)| (k as f64, l)).collect();
    let mark = suggested.and_then(|s| xy.iter().copied().find(|&(k, _)| k == s as f64));
    line_graph("K-Means", ("k", "loss value"), &xy, mark)
}

fn line_graph(
    title: &str,
    (x_desc, y_desc): (&str, &str),
    xy: &[(f64, f64)],
    suggested: Option<(f64, f64)>,
) -> PlotResult<Vec<u8>> {
    let (Some(&first), Some(&last)) = (xy.first(), xy.last()) else {
        return Err(PlotError::NoPoints);
    };
    render(GRAPH_SIZE, |root| {
        let x_max = last.0.max(first.0 + 1.0);
        let x_range = first.0 - 0.5..x_max + 0.9;
        let y_range = padded_range(xy.iter().map(|p| p.1));
        let integer_x = xy.len() <= 25;
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 30))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range, y_range)
            .map_err(plot_err)?;
        let x_fmt = |x: &f64| {
            if integer_x && x.fract() != 0.0 {
                String::new()
            } else {
                format!("{x:.0}")
            }
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 15))
            .x_labels(xy.len().clamp(2, 25))
            .x_label_formatter(&x_fmt)
            .light_line_style(WHITE)
            .draw()
            .map_err(plot_err)?;
        // The label goes on a white box, so that no grid line runs through its text, and is drawn
        // before the line and the points, which stay on top of it.
        let red = RGBColor(214, 39, 40);
        let label = match suggested {
            Some(p) => Label::new(
                format!("suggested k = {:.0} (loss {})", p.0, short(p.1)),
                p,
                17,
            )
            .color(red)
            .offset((14, -26)),
            // The last point sits at the right edge: the label ends above it, so a long run's
            // label is not cut off by the edge of the picture.
            None => Label::new(format!("{:.4}", last.1), last, 17)
                .offset((4, -8))
                .pos(Pos::new(HPos::Right, VPos::Bottom)),
        };
        chart
            .draw_series([label.backing(WHITE)])
            .map_err(plot_err)?;
        let blue = RGBColor(31, 119, 180);
        chart
            .draw_series(LineSeries::new(xy.iter().copied(), blue.stroke_width(2)))
            .map_err(plot_err)?;
        chart
            .draw_series(xy.iter().map(|&p| Circle::new(p, 4, blue.filled())))
            .map_err(plot_err)?;
        if let Some(p) = suggested {
            chart
                .draw_series([Circle::new(p, 11, red.stroke_width(3))])
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

/// A loss for a label: two decimals from 1 on (RGB units), three significant digits below (an Oklab
/// loss of 0.0255 is not "0.03").
fn short(v: f64) -> String {
    if v >= 1.0 || v <= 0.0 || !v.is_finite() {
        return format!("{v:.2}");
    }
    let decimals = (2.0 - v.log10().floor()) as usize;
    format!("{v:.decimals$}")
}

/// At most `limit` distinct colours of `hist`, drawn at random with probability growing with their
/// pixel count (Efraimidis and Spirakis' weighted sampling), so the sample looks like the photo.
/// Deterministic: the same histogram gives the same sample.
pub fn sample_colors(hist: &ColorHistogram, limit: usize) -> Vec<[u8; 3]> {
    if hist.len() <= limit {
        return hist.colors.clone();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let mut keyed: Vec<(f64, usize)> = hist
        .counts
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            (u.ln() / f64::from(w), i)
        })
        .collect();
    keyed.select_nth_unstable_by(limit - 1, |a, b| b.0.total_cmp(&a.0));
    keyed.truncate(limit);
    keyed.sort_by_key(|&(_, i)| i);
    keyed.into_iter().map(|(_, i)| hist.colors[i]).collect()
}

/// Gold, for the initial centroids.
const GOLD: RGBColor = RGBColor(255, 200, 0);

/// A point in the 3D model: where it is, how it is filled, its radius, and its outline if any.
type Marker = (Color, RGBColor, i32, Option<RGBColor>);

/// The colour of a pixel sample point.
fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// A colour that stands out against `c`: black on light colours, white on dark ones.
fn contrast(c: [u8; 3]) -> RGBColor {
    let luma = 0.299 * f64::from(c[0]) + 0.587 * f64::from(c[1]) + 0.114 * f64::from(c[2]);
    if luma > 110.0 {
        BLACK
    } else {
        WHITE
    }
}

/// The pixels (a sample, each in its own colour) with the initial centroids as larger gold points
/// outlined in dark grey, in the RGB cube.
///
/// # Errors
/// [`PlotError`] when drawing or encoding fails.
pub fn model_init(sample: &[[u8; 3]], initial: &[Color], k: usize) -> PlotResult<Vec<u8>> {
    let mut markers: Vec<Marker> = sample
        .iter()
        .map(|&c| (crate::kmeans::to_color(c), rgb(c), 2, None))
        .collect();
    markers.extend(
        initial
            .iter()
            .map(|&c| (c, GOLD, 8, Some(RGBColor(60, 60, 60)))),
    );
    model(&format!("pixels and initial centroids, k = {k}"), &markers)
}

/// The final centroids, each drawn large in its own colour with a contrasting outline, over the
/// pixel sample drawn small in the colour of its nearest centroid (the colour it becomes).
///
/// # Errors
/// [`PlotError`] when drawing or encoding fails.
pub fn model_after(sample: &[[u8; 3]], centroids: &[Color], k: usize) -> PlotResult<Vec<u8>> {
    let colors: Vec<[u8; 3]> = centroids
        .iter()
        .map(|&c| crate::kmeans::to_rgb8(c))
        .collect();
    let mut markers: Vec<Marker> = sample
        .iter()
        .map(|&c| {
            let x = crate::kmeans::to_color(c);
            let j = crate::kmeans::nearest(centroids, x);
            (x, faded(colors[j]), 2, None)
        })
        .collect();
    markers.extend(
        centroids
            .iter()
            .zip(&colors)
            .map(|(&c, &rgb8)| (c, rgb(rgb8), 9, Some(contrast(rgb8)))),
    );
    model(&format!("final centroids, k = {k}"), &markers)
}

/// `c` at 35% over white: faded points stay opaque and cheap to draw.
fn faded(c: [u8; 3]) -> RGBColor {
    let blend = |v: u8| (f64::from(v) * 0.35 + 255.0 * 0.65).round() as u8;
    RGBColor(blend(c[0]), blend(c[1]), blend(c[2]))
}

fn model(title: &str, markers: &[Marker]) -> PlotResult<Vec<u8>> {
    render(MODEL_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 26))
            .margin(20)
            .build_cartesian_3d(0.0..255.0, 0.0..255.0, 0.0..255.0)
            .map_err(plot_err)?;
        chart.with_projection(|mut p| {
            p.yaw = -0.8;
            p.pitch = 0.35;
            p.scale = 0.8;
            p.into_matrix()
        });
        // The red and green tick labels meet at the front corner (red 0, green 255): only green
        // labels it.
        let red_fmt = |v: &f64| {
            if *v < 10.0 {
                String::new()
            } else {
                format!("{v:.0}")
            }
        };
        let fmt = |v: &f64| format!("{v:.0}");
        chart
            .configure_axes()
            .x_formatter(&red_fmt)
            .y_formatter(&fmt)
            .z_formatter(&fmt)
            .label_style((FONT, 13))
            .light_grid_style(BLACK.mix(0.06))
            .max_light_lines(1)
            .draw()
            .map_err(plot_err)?;
        // Axis names beside each axis's tick labels; plotters' 3D axes have no descriptions.
        // x is red, y (up) is blue, z is green. Seen from this side the grey diagonal of the cube,
        // where most photos' colours lie, runs across the picture rather than towards the viewer.
        let names = [
            ("Red", (150.0, 0.0, 330.0)),
            ("Green", (-90.0, 0.0, 120.0)),
            ("Blue", (0.0, 290.0, 0.0)),
        ];
        chart
            .draw_series(names.iter().map(|&(name, at)| Label::new(name, at, 20)))
            .map_err(plot_err)?;
        // Far points first, so nearer ones are drawn over them.
        let mut order: Vec<&Marker> = markers.iter().collect();
        order.sort_by_key(|m| m.2);
        chart
            .draw_series(order.iter().flat_map(|&&(c, fill, size, outline)| {
                let at = (c[0], c[2], c[1]);
                let mut parts = vec![Circle::new(at, size, fill.filled())];
                if let Some(o) = outline {
                    parts.push(Circle::new(at, size, o.stroke_width(2)));
                }
                parts
            }))
            .map_err(plot_err)?;
        Ok(())
    })
}

/// Height of one colour's row in the swatch.
const SWATCH_ROW: u32 = 26;
/// Width of the swatch, and of its longest bar.
const SWATCH_SIZE: (u32, u32) = (760, 480);

/// The palette as a picture to paste into a document: one row per colour (in the order given,
/// most-used first), a bar of the colour as long as its share of pixels (the largest share spans
/// the bar area), and its hex code and share beside it. `shares` are fractions of 1.
///
/// # Errors
/// [`PlotError`] when drawing or encoding fails.
pub fn swatch(colors: &[([u8; 3], f64)], k: usize) -> PlotResult<Vec<u8>> {
    let top = 48;
    let height = top + SWATCH_ROW * colors.len().max(1) as u32 + 16;
    let largest = colors.iter().map(|&(_, s)| s).fold(0.0, f64::max);
    render((SWATCH_SIZE.0, height), |root| {
        let title = format!(
            "palette, k = {k} ({} colour{})",
            colors.len(),
            plural(colors.len())
        );
        root.draw(&Label::new(title, (16, 14), 20))
            .map_err(plot_err)?;
        let (left, bar_max) = (16i32, SWATCH_SIZE.1 as i32);
        for (row, &(rgb, share)) in colors.iter().enumerate() {
            let y = top as i32 + row as i32 * SWATCH_ROW as i32;
            let fraction = if largest > 0.0 { share / largest } else { 0.0 };
            let length = ((fraction * f64::from(bar_max)).round() as i32).max(2);
            let fill = RGBColor(rgb[0], rgb[1], rgb[2]);
            root.draw(&Rectangle::new(
                [(left, y + 2), (left + length, y + SWATCH_ROW as i32 - 3)],
                fill.filled(),
            ))
            .map_err(plot_err)?;
            // A thin outline, so a white or very light colour still shows its bar.
            root.draw(&Rectangle::new(
                [(left, y + 2), (left + length, y + SWATCH_ROW as i32 - 3)],
                RGBColor(160, 160, 160).stroke_width(1),
            ))
            .map_err(plot_err)?;
            let label = format!(
                "#{:02x}{:02x}{:02x}  {:.2}%",
                rgb[0],
                rgb[1],
                rgb[2],
                100.0 * share
            );
            root.draw(&Label::new(label, (left + bar_max + 12, y + 5), 16))
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_in_labels_keep_three_significant_digits_below_one() {
        assert_eq!(short(17.645454), "17.65");
        assert_eq!(short(1.0), "1.00");
        assert_eq!(short(0.31), "0.310");
        assert_eq!(short(0.025_51), "0.0255");
        assert_eq!(short(0.000_123_4), "0.000123");
        assert_eq!(short(0.0), "0.00");
    }

    fn decode(png: &[u8]) -> image::RgbImage {
        image::load_from_memory(png).unwrap().to_rgb8()
    }

    #[test]
    fn loss_graph_is_a_png_with_ink() {
        let img = decode(&loss_graph(&[30.0, 20.0, 15.0, 14.5], 4).unwrap());
        assert_eq!(img.dimensions(), GRAPH_SIZE);
        let dark = img.pixels().filter(|p| p.0.iter().all(|&v| v < 80)).count();
        assert!(dark > 500, "text and axes are drawn ({dark} dark pixels)");
    }

    #[test]
    fn the_last_loss_is_labelled_inside_the_picture() {
        // A long run puts its last point at the right edge of the plot; its label used to start
        // there and run off the picture. Nothing but background lies right of the plot area.
        let losses: Vec<f64> = (0..300).map(|i| 7.0 + 1.0 / f64::from(i + 1)).collect();
        let img = decode(&loss_graph(&losses, 256).unwrap());
        let (w, h) = img.dimensions();
        let ink = (w - 16..w)
            .flat_map(|x| (0..h).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&v| v < 128))
            .count();
        assert_eq!(ink, 0, "text in the right margin");
    }

    #[test]
    fn grid_lines_stop_at_the_last_loss_label() {
        // 34 epochs: the label of the last (x = 33) spans the grid line at x = 32.
        let losses: Vec<f64> = (0..34).map(|i| 2.3 + 0.2 / f64::from(i + 1)).collect();
        let img = decode(&loss_graph(&losses, 256).unwrap());
        let (w, h) = img.dimensions();
        let grey = [205, 205, 205];
        let blue = [31, 119, 180];
        let last_x = (0..w)
            .rev()
            .find(|&x| (0..h).any(|y| img.get_pixel(x, y).0 == blue))
            .unwrap();
        let last_y = (0..h)
            .find(|&y| img.get_pixel(last_x, y).0 == blue)
            .unwrap();
        // The label's text: dark pixels in the band above the last point.
        let text: Vec<(u32, u32)> = (last_x - 80..last_x + 8)
            .flat_map(|x| (last_y - 40..last_y - 4).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&v| v < 100))
            .collect();
        assert!(
            text.len() > 30,
            "the label is drawn ({} dark pixels)",
            text.len()
        );
        let (left, right) = (
            text.iter().map(|p| p.0).min().unwrap(),
            text.iter().map(|p| p.0).max().unwrap(),
        );
        let (top, bottom) = (
            text.iter().map(|p| p.1).min().unwrap(),
            text.iter().map(|p| p.1).max().unwrap(),
        );
        // Grid lines: columns of the mesh's grey across the middle of the plot.
        let crossing: Vec<u32> = (left..=right)
            .filter(|&x| img.get_pixel(x, h / 2).0 == grey)
            .collect();
        assert!(!crossing.is_empty(), "a grid line runs under the label");
        for x in crossing {
            let through = (top..=bottom)
                .filter(|&y| img.get_pixel(x, y).0 == grey)
                .count();
            assert_eq!(through, 0, "the grid line at x {x} runs through the label");
        }
    }

    #[test]
    fn an_empty_graph_is_an_error_not_a_panic() {
        assert!(matches!(loss_graph(&[], 3), Err(PlotError::NoPoints)));
        assert!(matches!(loss_vs_k(&[], None), Err(PlotError::NoPoints)));
        // One point is a graph.
        assert!(loss_graph(&[5.0], 1).is_ok());
    }

    #[test]
    fn models_draw_the_centroid_colours() {
        let sample = vec![[250, 10, 10], [10, 10, 250]];
        let png = model_after(&sample, &[[250.0, 10.0, 10.0], [10.0, 10.0, 250.0]], 2).unwrap();
        let img = decode(&png);
        assert!(img.pixels().any(|p| p.0 == [250, 10, 10]));
        assert!(img.pixels().any(|p| p.0 == [10, 10, 250]));
        let init = decode(&model_init(&sample, &[[100.0, 100.0, 100.0]], 1).unwrap());
        assert!(init.pixels().any(|p| p.0 == [255, 200, 0]), "gold centroid");
    }

    #[test]
    fn sampling_is_bounded_deterministic_and_follows_weights() {
        let hist = ColorHistogram {
            colors: (0..10_000u32).map(crate::pixels::key_color).collect(),
            counts: (0..10_000u32)
                .map(|i| if i < 100 { 10_000 } else { 1 })
                .collect(),
        };
        let a = sample_colors(&hist, 500);
        assert_eq!(a.len(), 500);
        assert_eq!(a, sample_colors(&hist, 500));
        let heavy = a
            .iter()
            .filter(|&&c| crate::pixels::color_key(c) < 100)
            .count();
        assert!(
            heavy >= 95,
            "heavy colours are almost always drawn ({heavy})"
        );
    }
}
