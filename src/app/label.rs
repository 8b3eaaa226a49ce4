//! Text for the plots, laid out glyph by glyph at fractional positions.
//!
//! plotters' own text (0.3.7, with its `ab_glyph` backend) puts each glyph at its pen position
//! rounded down and leaves out the glyph's left side bearing, so at the 15-20 pixel sizes of the
//! plots the gaps between letters differ by a pixel ("2.2 951"). A [`Label`] is a plotters element
//! that draws its text with `ab_glyph` directly: each glyph rasterised at its exact pen position
//! (kerning included), its coverage blended into the picture.

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters::element::{Drawable, PointCollection};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::RGBColor;
use plotters_backend::{BackendColor, BackendCoord, DrawingBackend, DrawingErrorKind};

/// Room left around the text by a label's backing, in pixels.
const PAD: i32 = 3;

/// One line of text in DejaVu Sans, anchored at a point of the plot (in its coordinates `C`),
/// moved by a pixel offset, aligned on that spot as `pos` says, optionally on a box of colour.
#[derive(Clone)]
pub(crate) struct Label<C> {
    at: C,
    text: String,
    size: f32,
    color: RGBColor,
    offset: (i32, i32),
    pos: Pos,
    backing: Option<RGBColor>,
}

impl<C> Label<C> {
    /// Black text of `size` pixels (the font's height, as plotters measures it), its top left
    /// corner at `at`.
    pub fn new(text: impl Into<String>, at: C, size: u32) -> Self {
        Self {
            at,
            text: text.into(),
            size: size as f32,
            color: RGBColor(0, 0, 0),
            offset: (0, 0),
            pos: Pos::new(HPos::Left, VPos::Top),
            backing: None,
        }
    }

    /// Draws the text in `color` instead of black.
    pub fn color(self, color: RGBColor) -> Self {
        Self { color, ..self }
    }

    /// Moves the text by `offset` pixels from its anchor.
    pub fn offset(self, offset: (i32, i32)) -> Self {
        Self { offset, ..self }
    }

    /// Which point of the text's box sits on the (offset) anchor.
    pub fn pos(self, pos: Pos) -> Self {
        Self { pos, ..self }
    }

    /// Draws a box of `color` under the text first, a few pixels larger than it.
    pub fn backing(self, color: RGBColor) -> Self {
        Self {
            backing: Some(color),
            ..self
        }
    }
}

/// The embedded font. DejaVu Sans is a valid font, so it always parses.
fn font() -> FontRef<'static> {
    FontRef::try_from_slice(dejavu::sans::regular()).expect("DejaVu Sans parses")
}

impl<'a, C: 'a> PointCollection<'a, C> for &'a Label<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;

    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<C, DB: DrawingBackend> Drawable<DB> for Label<C> {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut points: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = points.next() else {
            return Ok(());
        };
        let font = font();
        let scale = PxScale::from(self.size);
        let scaled = font.as_scaled(scale);
        // Pen positions, from the start of the line.
        let mut glyphs = Vec::with_capacity(self.text.len());
        let (mut pen, mut previous) = (0.0f32, None);
        for c in self.text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                pen += scaled.kern(p, id);
            }
            glyphs.push((id, pen));
            pen += scaled.h_advance(id);
            previous = Some(id);
        }
        let (width, height) = (pen, scaled.ascent() - scaled.descent());
        let left = (x + self.offset.0) as f32
            - match self.pos.h_pos {
                HPos::Left => 0.0,
                HPos::Center => width / 2.0,
                HPos::Right => width,
            };
        let top = (y + self.offset.1) as f32
            - match self.pos.v_pos {
                VPos::Top => 0.0,
                VPos::Center => height / 2.0,
                VPos::Bottom => height,
            };
        if let Some(RGBColor(r, g, b)) = self.backing {
            let colour = BackendColor {
                alpha: 1.0,
                rgb: (r, g, b),
            };
            backend.draw_rect(
                (left.floor() as i32 - PAD, top.floor() as i32 - PAD),
                (
                    (left + width).ceil() as i32 + PAD,
                    (top + height).ceil() as i32 + PAD,
                ),
                &colour,
                true,
            )?;
        }
        let baseline = top + scaled.ascent();
        let RGBColor(r, g, b) = self.color;
        for (id, dx) in glyphs {
            let glyph = id.with_scale_and_position(scale, point(left + dx, baseline));
            let Some(outline) = font.outline_glyph(glyph) else {
                continue; // a space
            };
            let bounds = outline.px_bounds();
            let mut pixels = Vec::new();
            outline.draw(|gx, gy, coverage| {
                if coverage > 0.0 {
                    pixels.push((gx, gy, coverage));
                }
            });
            for (gx, gy, coverage) in pixels {
                let at = (
                    bounds.min.x as i32 + gx as i32,
                    bounds.min.y as i32 + gy as i32,
                );
                let colour = BackendColor {
                    alpha: f64::from(coverage.min(1.0)),
                    rgb: (r, g, b),
                };
                backend.draw_pixel(at, colour)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;

    /// Draws `label` on a white canvas and returns its grey levels (0 black, 255 white).
    fn render(label: &Label<(i32, i32)>, size: (u32, u32)) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; size.0 as usize * size.1 as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
            root.fill(&WHITE).unwrap();
            root.draw(label).unwrap();
            root.present().unwrap();
        }
        (0..size.1 as usize)
            .map(|y| {
                (0..size.0 as usize)
                    .map(|x| buf[3 * (y * size.0 as usize + x)])
                    .collect()
            })
            .collect()
    }

    /// The ink of each column (sum of darkness over the rows).
    fn ink_by_column(grey: &[Vec<u8>]) -> Vec<f64> {
        (0..grey[0].len())
            .map(|x| grey.iter().map(|row| f64::from(255 - row[x])).sum())
            .collect()
    }

    #[test]
    fn equal_letters_are_equally_spaced() {
        // DejaVu's digits all advance the same; at 17 pixels that is 10.8 pixels, which rounding
        // each pen position down turns into gaps of 10 and 11 pixels.
        let label = Label::new("1111111", (10, 10), 17);
        let ink = ink_by_column(&render(&label, (120, 40)));
        // Each glyph's ink is a run of columns between blank ones; its centre of ink.
        let mut centres = Vec::new();
        let mut x = 0;
        while x < ink.len() {
            if ink[x] == 0.0 {
                x += 1;
                continue;
            }
            let (mut sum, mut moment) = (0.0, 0.0);
            while x < ink.len() && ink[x] > 0.0 {
                sum += ink[x];
                moment += ink[x] * x as f64;
                x += 1;
            }
            centres.push(moment / sum);
        }
        assert_eq!(centres.len(), 7, "seven separate glyphs: {centres:?}");
        let advance = font()
            .as_scaled(PxScale::from(17.0))
            .h_advance(font().glyph_id('1'));
        for pair in centres.windows(2) {
            let step = pair[1] - pair[0];
            assert!(
                (step - f64::from(advance)).abs() < 0.2,
                "steps of {step:.2} pixels, not {advance:.2}: {centres:?}"
            );
        }
    }

    #[test]
    fn alignment_and_backing_follow_the_text_box() {
        // Right and bottom aligned on (100, 30): the ink ends left of and above that point, and a
        // backing covers the text's box and no more than a few pixels around it.
        let label = Label::new("8.88", (100, 30), 17)
            .pos(Pos::new(HPos::Right, VPos::Bottom))
            .backing(RGBColor(200, 200, 200));
        let grey = render(&label, (140, 60));
        let dark: Vec<(usize, usize)> = (0..60)
            .flat_map(|y| (0..140).map(move |x| (x, y)))
            .filter(|&(x, y)| grey[y][x] < 100)
            .collect();
        assert!(!dark.is_empty());
        assert!(dark.iter().all(|&(x, y)| x <= 100 && y <= 30), "{dark:?}");
        let backed: Vec<(usize, usize)> = (0..60)
            .flat_map(|y| (0..140).map(move |x| (x, y)))
            .filter(|&(x, y)| grey[y][x] == 200)
            .collect();
        let (right, bottom) = (
            backed.iter().map(|p| p.0).max().unwrap(),
            backed.iter().map(|p| p.1).max().unwrap(),
        );
        assert!((100..=100 + PAD as usize + 1).contains(&right), "{right}");
        assert!((30..=30 + PAD as usize + 1).contains(&bottom), "{bottom}");
    }
}
