//! The sweep's run folder: the loss-against-K graph, `losses.csv` and `details.txt`, and the lines
//! `find_k` prints.

use std::sync::atomic::{AtomicI32, Ordering};

use super::{SweepReport, SweepSpec};
use crate::app::error::{AppError as Error, Result};
use crate::app::plot;
use crate::app::report::details_text;
use crate::app::run_dir::Staging;
use crate::app::spec::{empty_name, init_name, seed_text};

/// `losses.csv`: a `k,loss` header and a row per K.
pub fn losses_csv(losses: &[(usize, f64)]) -> String {
    let mut out = String::from("k,loss\n");
    for (k, l) in losses {
        out.push_str(&format!("{k},{l:.6}\n"));
    }
    out
}

pub(super) fn write_sweep_folder(
    spec: &SweepSpec,
    seed: u64,
    jobs: usize,
    losses: Vec<(usize, f64)>,
    suggested: Option<usize>,
    cancel: &AtomicI32,
) -> Result<SweepReport> {
    let mut staging = Staging::begin(&spec.out_dir, &spec.folder_name())?;
    let run_dir = staging.run_dir().to_path_buf();
    let mut lines = vec![format!("output folder name: {}", run_dir.display())];
    let graph = plot::loss_vs_k(&losses, suggested)
        .map_err(|e| Error::encode(run_dir.join("loss_graph.png"), e))?;
    staging.write("loss_graph.png", &graph)?;
    lines.push(format!(
        "loss graph saved to {}",
        run_dir.join("loss_graph.png").display()
    ));
    staging.write("losses.csv", losses_csv(&losses).as_bytes())?;
    lines.push(format!(
        "losses saved to {}",
        run_dir.join("losses.csv").display()
    ));
    lines.push(format!(
        "details saved to {}",
        run_dir.join("details.txt").display()
    ));
    let mut printed: Vec<String> = losses.iter().map(|&(k, l)| loss_line(k, l)).collect();
    printed.push(suggestion_line(suggested));
    printed.extend(lines.iter().cloned());
    let entries = vec![
        ("image", spec.image.display().to_string()),
        ("k range", format!("{}..={}", spec.k_min, spec.k_max)),
        (
            "flags",
            if spec.one_round { "-o" } else { "(none)" }.to_string(),
        ),
        ("seed", seed_text(seed, spec.options.init)),
        (
            "restarts per k",
            spec.options.restarts_with(spec.one_round).to_string(),
        ),
        (
            "max epochs",
            spec.options.effective_max_epochs().to_string(),
        ),
        ("init", init_name(spec.options.init).to_string()),
        ("empty clusters", empty_name(spec.options.empty).to_string()),
        ("space", spec.options.space.name().to_string()),
        ("parallel jobs", jobs.to_string()),
        (
            "suggested k",
            suggested.map_or("none".into(), |k| k.to_string()),
        ),
    ];
    staging.write(
        "details.txt",
        details_text("find_k", &entries, &printed).as_bytes(),
    )?;
    // A signal that came while the files were made still removes them.
    if let signal @ 1.. = cancel.load(Ordering::SeqCst) {
        return Err(Error::Interrupted { signal });
    }
    staging.commit()?;
    Ok(SweepReport {
        losses,
        suggested,
        seed,
        run_dir,
        lines,
    })
}

/// The original's line for one K.
pub fn loss_line(k: usize, loss: f64) -> String {
    format!("k = {k} finished! loss value: {loss:.6}")
}

/// The line that gives the suggested K.
pub fn suggestion_line(suggested: Option<usize>) -> String {
    match suggested {
        Some(k) => format!("suggested k: {k}"),
        None => "suggested k: none (the loss curve has no elbow)".to_string(),
    }
}
