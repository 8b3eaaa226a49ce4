//! The colour spaces k-means can cluster in: sRGB (the original's), CIELAB and Oklab.
//!
//! Each space is laid out for the engine as coordinates in about 0..=255 by a uniform scale and an
//! offset, so distances keep their proportions; [`ColorSpace::unit`] converts them back to the space's
//! own units. Centroids are converted back to sRGB for every file.

/// A point in a colour space, as k-means works on it: sRGB red, green and blue in 0..=255
/// (fractional), or a CIELAB or Oklab colour laid out in about the same range (see
/// [`ColorSpace::encode`]).
pub type Color = [f64; 3];

/// A colour space to cluster in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum ColorSpace {
    /// sRGB values 0-255, as the original.
    #[default]
    Rgb,
    /// CIELAB (D65 white): perceptual, L 0-100.
    Lab,
    /// Oklab (B. Ottosson, 2020): perceptual, with better hue uniformity than CIELAB; L 0-1.
    Oklab,
}

/// sRGB component 0-255 to linear light 0-1. An 8-bit component is looked up: a photo's hundreds of
/// thousands of colours were converted at 60 ns a component, more than its decoding took.
fn linear(c: f64) -> f64 {
    static TABLE: std::sync::LazyLock<[f64; 256]> =
        std::sync::LazyLock::new(|| std::array::from_fn(|i| linear_of(i as f64)));
    if (0.0..=255.0).contains(&c) && c.fract() == 0.0 {
        TABLE[c as usize]
    } else {
        linear_of(c)
    }
}

/// [`linear`], computed.
fn linear_of(c: f64) -> f64 {
    let c = c / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light 0-1 to an sRGB component 0-255 (clamped).
fn gamma(c: f64) -> f64 {
    let c = c.clamp(0.0, 1.0);
    let v = if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    v * 255.0
}

fn mul(m: &[[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|i| m[i][0] * v[0] + m[i][1] * v[1] + m[i][2] * v[2])
}

const RGB_TO_XYZ: [[f64; 3]; 3] = [
    [0.412_456_4, 0.357_576_1, 0.180_437_5],
    [0.212_672_9, 0.715_152_2, 0.072_175_0],
    [0.019_333_9, 0.119_192_0, 0.950_304_1],
];
const XYZ_TO_RGB: [[f64; 3]; 3] = [
    [3.240_454_2, -1.537_138_5, -0.498_531_4],
    [-0.969_266_0, 1.876_010_8, 0.041_556_0],
    [0.055_643_4, -0.204_025_9, 1.057_225_2],
];
const WHITE: [f64; 3] = [0.950_47, 1.0, 1.088_83];
const RGB_TO_LMS: [[f64; 3]; 3] = [
    [0.412_221_470_8, 0.536_332_536_3, 0.051_445_992_9],
    [0.211_903_498_2, 0.680_699_545_1, 0.107_396_956_6],
    [0.088_302_461_9, 0.281_718_837_6, 0.629_978_700_5],
];
const LMS_TO_OKLAB: [[f64; 3]; 3] = [
    [0.210_454_255_3, 0.793_617_785_0, -0.004_072_046_8],
    [1.977_998_495_1, -2.428_592_205_0, 0.450_593_709_9],
    [0.025_904_037_1, 0.782_771_766_2, -0.808_675_766_0],
];
const OKLAB_TO_LMS: [[f64; 3]; 3] = [
    [1.0, 0.396_337_777_4, 0.215_803_757_3],
    [1.0, -0.105_561_345_8, -0.063_854_172_8],
    [1.0, -0.089_484_177_5, -1.291_485_548_0],
];
const LMS_TO_RGB: [[f64; 3]; 3] = [
    [4.076_741_662_1, -3.307_711_591_3, 0.230_969_929_2],
    [-1.268_438_004_6, 2.609_757_401_1, -0.341_319_396_5],
    [-0.004_196_086_3, -0.703_418_614_7, 1.707_614_701_0],
];

const EPSILON: f64 = 216.0 / 24389.0;
const KAPPA: f64 = 24389.0 / 27.0;

/// sRGB (0-255, fractional allowed) to CIELAB.
pub fn srgb_to_lab(rgb: Color) -> Color {
    let xyz = mul(&RGB_TO_XYZ, rgb.map(linear));
    let f = |t: f64| {
        if t > EPSILON {
            t.cbrt()
        } else {
            (KAPPA * t + 16.0) / 116.0
        }
    };
    let [fx, fy, fz] = std::array::from_fn(|i| f(xyz[i] / WHITE[i]));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// CIELAB to sRGB (0-255, clamped).
pub fn lab_to_srgb(lab: Color) -> Color {
    let fy = (lab[0] + 16.0) / 116.0;
    let fx = fy + lab[1] / 500.0;
    let fz = fy - lab[2] / 200.0;
    let inv = |t: f64| {
        let t3 = t * t * t;
        if t3 > EPSILON {
            t3
        } else {
            (116.0 * t - 16.0) / KAPPA
        }
    };
    let xyz = [inv(fx) * WHITE[0], inv(fy) * WHITE[1], inv(fz) * WHITE[2]];
    mul(&XYZ_TO_RGB, xyz).map(gamma)
}

/// sRGB (0-255, fractional allowed) to Oklab.
pub fn srgb_to_oklab(rgb: Color) -> Color {
    let lms = mul(&RGB_TO_LMS, rgb.map(linear));
    mul(&LMS_TO_OKLAB, lms.map(f64::cbrt))
}

/// Oklab to sRGB (0-255, clamped).
pub fn oklab_to_srgb(lab: Color) -> Color {
    let lms = mul(&OKLAB_TO_LMS, lab).map(|v| v * v * v);
    mul(&LMS_TO_RGB, lms).map(gamma)
}

/// CIELAB and Oklab engine coordinates are multiples of this (2^-16 engine units: 1.5e-5 CIELAB
/// units, 6e-8 Oklab units: a thousandth of the least gap between neighbouring 8-bit colours, 0.018
/// engine units in Oklab and 0.020 in CIELAB). On such a grid, with coordinates below 256, a sum of
/// up to 2^29 pixels' coordinates is exact in f64, as it is for integer sRGB values: cluster sums
/// then do not depend on the order in which pixels are added, so a run's epochs can be shared
/// between threads and give what a plain per-pixel Lloyd gives.
pub const FRACTION: f64 = 1.0 / 65536.0;

/// `v` rounded to the nearest multiple of [`FRACTION`].
fn on_fraction(v: f64) -> f64 {
    (v / FRACTION).round() * FRACTION
}

impl ColorSpace {
    /// How many engine units make one unit of the space (distances divide by this).
    pub fn unit(self) -> f64 {
        match self {
            Self::Rgb | Self::Lab => 1.0,
            Self::Oklab => 255.0,
        }
    }

    /// An sRGB colour (0-255, fractional allowed) as engine coordinates in this space. CIELAB and
    /// Oklab coordinates are rounded to multiples of [`FRACTION`] engine units.
    pub fn encode(self, rgb: Color) -> Color {
        match self {
            Self::Rgb => rgb,
            Self::Lab => {
                let [l, a, b] = srgb_to_lab(rgb);
                [l, a + 128.0, b + 128.0].map(on_fraction)
            }
            Self::Oklab => {
                let [l, a, b] = srgb_to_oklab(rgb);
                [l * 255.0, a * 255.0 + 128.0, b * 255.0 + 128.0].map(on_fraction)
            }
        }
    }

    /// Engine coordinates in this space back to sRGB (0-255, clamped).
    pub fn decode(self, c: Color) -> Color {
        match self {
            Self::Rgb => c.map(|v| v.clamp(0.0, 255.0)),
            Self::Lab => lab_to_srgb([c[0], c[1] - 128.0, c[2] - 128.0]),
            Self::Oklab => {
                oklab_to_srgb([c[0] / 255.0, (c[1] - 128.0) / 255.0, (c[2] - 128.0) / 255.0])
            }
        }
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rgb => "rgb",
            Self::Lab => "lab",
            Self::Oklab => "oklab",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_bit_components_are_looked_up_with_the_bits_computed() {
        for i in 0..=255 {
            let c = f64::from(i);
            assert_eq!(linear(c).to_bits(), linear_of(c).to_bits(), "{c}");
        }
        // Others are computed.
        for c in [0.5, 127.25, 254.999, -3.0, 256.0, 300.0] {
            assert_eq!(linear(c).to_bits(), linear_of(c).to_bits(), "{c}");
        }
        assert_eq!(linear(255.0), 1.0);
    }

    #[test]
    fn lab_and_oklab_round_trip_srgb_within_one_unit() {
        for space in [ColorSpace::Rgb, ColorSpace::Lab, ColorSpace::Oklab] {
            for r in (0..=255).step_by(5) {
                for g in (0..=255).step_by(5) {
                    for b in (0..=255).step_by(5) {
                        let c = [r as f64, g as f64, b as f64];
                        let back = space.decode(space.encode(c));
                        for d in 0..3 {
                            assert!((back[d] - c[d]).abs() < 1.0, "{space:?} {c:?} -> {back:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn known_values() {
        let white = srgb_to_lab([255.0; 3]);
        assert!((white[0] - 100.0).abs() < 0.01 && white[1].abs() < 0.01 && white[2].abs() < 0.01);
        let red = srgb_to_lab([255.0, 0.0, 0.0]);
        assert!(
            (red[0] - 53.24).abs() < 0.05
                && (red[1] - 80.09).abs() < 0.1
                && (red[2] - 67.20).abs() < 0.1
        );
        let ok_white = srgb_to_oklab([255.0; 3]);
        assert!((ok_white[0] - 1.0).abs() < 1e-3 && ok_white[1].abs() < 1e-3);
        let ok_red = srgb_to_oklab([255.0, 0.0, 0.0]);
        assert!((ok_red[0] - 0.628).abs() < 1e-3 && (ok_red[1] - 0.2249).abs() < 1e-3);
    }

    #[test]
    fn every_colour_lands_inside_the_engine_cube() {
        for space in [ColorSpace::Lab, ColorSpace::Oklab] {
            for key in (0..1u32 << 24).step_by(4099) {
                let c = crate::pixels::key_color(key).map(f64::from);
                let e = space.encode(c);
                assert!(
                    e.iter().all(|&v| (-0.5..=255.5).contains(&v)),
                    "{space:?} {c:?} -> {e:?}"
                );
                // On the grid of FRACTION, where the engine's sums are exact.
                assert!(e.iter().all(|&v| (v / FRACTION).fract() == 0.0), "{e:?}");
            }
        }
    }
}
