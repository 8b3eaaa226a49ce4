//! Renders `examples/sample.jpg`, the picture README's first command quantizes: a small synthetic
//! landscape (sky gradient, sun, hills, lake with a reflection, flowers) with thousands of distinct
//! colours and soft gradients, made by the project so it can ship freely.
//!
//! `cargo run --example render_sample` rewrites it (the output is deterministic).

const W: u32 = 480;
const H: u32 = 320;

fn lerp(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    std::array::from_fn(|i| a[i] + (b[i] - a[i]) * t.clamp(0.0, 1.0))
}

/// A cheap deterministic hash in [0, 1), for texture.
fn noise(x: u32, y: u32) -> f64 {
    let h = x.wrapping_mul(374_761_393) ^ y.wrapping_mul(668_265_263);
    let h = (h ^ (h >> 13)).wrapping_mul(1_274_126_177);
    f64::from(h >> 8) / f64::from(1u32 << 24)
}

fn scene(x: u32, y: u32) -> [f64; 3] {
    let (fx, fy) = (f64::from(x) / f64::from(W), f64::from(y) / f64::from(H));
    let horizon = 0.55;
    let sky = |fx: f64, fy: f64| {
        let mut c = lerp([40.0, 70.0, 160.0], [250.0, 170.0, 110.0], fy / horizon);
        let d = (((fx - 0.7) * f64::from(W) / f64::from(H)).powi(2) + (fy - 0.32).powi(2)).sqrt();
        if d < 0.07 {
            c = [255.0, 236.0, 150.0];
        } else {
            c = lerp(c, [255.0, 210.0, 140.0], (0.25 - d) * 2.0);
        }
        c
    };
    let far_hill = horizon - 0.12 * (fx * 7.0).sin().abs() - 0.05 * (fx * 17.0 + 1.0).sin();
    let near_hill = horizon + 0.02 - 0.08 * (fx * 3.0 + 2.0).sin() - 0.03 * (fx * 11.0).cos();
    if fy < horizon {
        if fy > near_hill {
            return lerp(
                [40.0, 110.0, 50.0],
                [20.0, 60.0, 30.0],
                (fy - near_hill) * 8.0,
            );
        }
        if fy > far_hill {
            return lerp(
                [110.0, 100.0, 150.0],
                [70.0, 80.0, 120.0],
                (fy - far_hill) * 6.0,
            );
        }
        return sky(fx, fy);
    }
    let depth = (fy - horizon) / (1.0 - horizon);
    if depth > 0.55 {
        // Meadow with flowers.
        let n = noise(x / 3, y / 3);
        let grass = lerp([90.0, 150.0, 50.0], [40.0, 100.0, 30.0], depth + 0.2 * n);
        return match n {
            n if n > 0.985 => [230.0, 60.0, 80.0],
            n if n > 0.97 => [250.0, 220.0, 60.0],
            n if n > 0.955 => [180.0, 120.0, 220.0],
            _ => grass,
        };
    }
    // The lake reflects the sky and hills, darker and rippled.
    let ripple = 0.01 * (f64::from(y) * 0.9).sin() * (1.0 - depth);
    let mirrored = horizon - (fy - horizon) * 1.6;
    let reflected = scene_above((fx + ripple).clamp(0.0, 0.999), mirrored.max(0.0), sky);
    lerp(reflected, [20.0, 50.0, 90.0], 0.35 + depth * 0.5)
}

fn scene_above(fx: f64, fy: f64, sky: impl Fn(f64, f64) -> [f64; 3]) -> [f64; 3] {
    let x = (fx * f64::from(W)) as u32;
    let y = (fy * f64::from(H)) as u32;
    let c = scene(x, y.min((f64::from(H) * 0.549) as u32));
    if fy <= 0.0 {
        sky(fx, 0.0)
    } else {
        c
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rgb: Vec<[u8; 3]> = (0..H)
        .flat_map(|y| (0..W).map(move |x| (x, y)))
        .map(|(x, y)| {
            let c = scene(x, y);
            let grain = (noise(x, y) - 0.5) * 6.0;
            c.map(|v| (v + grain).round().clamp(0.0, 255.0) as u8)
        })
        .collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample.jpg");
    let jpeg = kquant::io::encode_jpeg(W, H, &rgb)?;
    std::fs::write(&path, jpeg)?;
    println!("wrote {}", path.display());
    Ok(())
}
