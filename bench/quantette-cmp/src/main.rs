//! quantette's pipeline (Wu, or minibatch k-means in Oklab; no dithering, all cores) on one photo,
//! for `bench/compare.sh`. Its own crate, outside kquant's workspace, so kquant never depends on it.
//!
//! ```text
//! quantette-cmp IMAGE K wu|kmeans [OUT.png]   quantize, print one JSON line
//! quantette-cmp score ORIGINAL QUANTIZED      score another tool's picture, print one JSON line
//! quantette-cmp topng IMAGE OUT.png           convert (pngquant reads only PNG)
//! ```
//!
//! The JSON gives seconds (whole, and quantizing alone), colours used, the mean RGB distance of a
//! pixel to its colour, MSE and PSNR, computed the same way as kquant's.
use quantette::{ImageBuf, Pipeline, QuantizeMethod};
use std::time::Instant;

/// Colours used, mean RGB distance, MSE per channel and PSNR of `quantized` against `original`.
fn score(original: &image::RgbImage, quantized: &[[u8; 3]]) -> (usize, f64, f64, f64) {
    let mut se = 0f64;
    let mut dist = 0f64;
    let mut colours = std::collections::HashSet::new();
    for (p, q) in original.pixels().zip(quantized) {
        let d: f64 = (0..3).map(|i| (p.0[i] as f64 - q[i] as f64).powi(2)).sum();
        se += d;
        dist += d.sqrt();
        colours.insert(*q);
    }
    let n = quantized.len() as f64;
    let mse = se / n / 3.0;
    (
        colours.len(),
        dist / n,
        mse,
        10.0 * (255.0f64 * 255.0 / mse).log10(),
    )
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.get(1).map(String::as_str) == Some("topng") {
        image::open(&a[2]).unwrap().into_rgb8().save(&a[3]).unwrap();
        return;
    }
    if a.get(1).map(String::as_str) == Some("score") {
        let original = image::open(&a[2]).unwrap().into_rgb8();
        let quantized = image::open(&a[3]).unwrap().into_rgb8();
        assert_eq!(
            original.dimensions(),
            quantized.dimensions(),
            "sizes differ"
        );
        let flat: Vec<[u8; 3]> = quantized.pixels().map(|p| p.0).collect();
        let (colours, loss, mse, psnr) = score(&original, &flat);
        println!(
            "{{\"colours\":{colours},\"loss_rgb\":{loss:.4},\"mse\":{mse:.3},\"psnr\":{psnr:.2}}}"
        );
        return;
    }
    let (path, k, method) = (&a[1], a[2].parse::<u16>().unwrap(), a[3].as_str());
    let t0 = Instant::now();
    let img = image::open(path).unwrap().into_rgb8();
    let (w, h) = img.dimensions();
    let src = img.clone();
    let buf = ImageBuf::try_from(img).unwrap();
    let m = match method {
        "wu" => QuantizeMethod::Wu,
        _ => QuantizeMethod::kmeans(),
    };
    let t1 = Instant::now();
    let out = Pipeline::new()
        .palette_size(k.try_into().unwrap())
        .ditherer(None)
        .quantize_method(m)
        .parallel(true)
        .input_image(buf.as_ref())
        .output_srgb8_image();
    let tq = t1.elapsed().as_secs_f64();
    let flat: Vec<[u8; 3]> = out
        .as_ref()
        .as_slice()
        .iter()
        .map(|c| [c.red, c.green, c.blue])
        .collect();
    let tt = t0.elapsed().as_secs_f64();
    let (colours, loss, mse, psnr) = score(&src, &flat);
    if let Some(o) = a.get(4) {
        let raw: Vec<u8> = flat.iter().flatten().copied().collect();
        image::RgbImage::from_raw(w, h, raw)
            .unwrap()
            .save(o)
            .unwrap();
    }
    println!(
        "{{\"tool\":\"quantette\",\"method\":\"{method}\",\"k\":{k},\"secs_total\":{tt:.3},\"secs_quantize\":{tq:.3},\"colours\":{colours},\"loss_rgb\":{loss:.4},\"mse\":{mse:.3},\"psnr\":{psnr:.2}}}"
    );
}
