#!/usr/bin/env bash
# Palette quality of kquant against scikit-learn, as a Markdown table (quality only, not speed).
#
#   PYTHON=.venv/bin/python bench/quality.sh PHOTO... [-- K...]     (K defaults to 4 8 16 32)
#
# For each photo and K it runs, with 20 restarts and a fixed seed:
#   - kquant with the original's method (random centroids in the cube, empty clusters kept);
#   - kquant with --init kmeans++ --empty reseed;
#   - scikit-learn KMeans(init="k-means++", n_init=20) (../shared/bench/sk_bench.py pp20);
# and prints each loss (mean RGB distance to the nearest colour), the SSE of the k-means++ runs, and
# kquant's k-means++ loss and SSE as ratios to scikit-learn's.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
shared="${SHARED:-$here/../shared/bench}"
photos=(); ks=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; ks=("$@"); break; fi
  photos+=("$1"); shift
done
[ ${#ks[@]} -gt 0 ] || ks=(4 8 16 32)
[ -x "$here/target/release/k_means" ] || (cd "$here" && cargo build --release --quiet)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

field() { grep -m1 "^$1: " "$2" | sed "s/^$1: //; s/ .*//"; }

echo "| photo | K | kquant default loss | kquant k-means++ loss | scikit-learn pp20 loss | loss ratio | kquant SSE | scikit-learn inertia | SSE ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
for photo in "${photos[@]}"; do
  for k in "${ks[@]}"; do
    "$here/target/release/k_means" "$photo" "$k" -l --seed 1 --out-dir "$out/d" >/dev/null
    "$here/target/release/k_means" "$photo" "$k" -l --seed 1 --init kmeans++ --empty reseed \
      --out-dir "$out/p" >/dev/null
    d_loss=$(field "final loss" "$out"/d/output*/details.txt)
    p_loss=$(field "final loss" "$out"/p/output*/details.txt)
    p_sse=$(field "SSE" "$out"/p/output*/details.txt)
    rm -rf "$out/d" "$out/p"
    read -r sk_loss sk_sse < <(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" \
      "$shared/sk_bench.py" "$photo" "$k" pp20 --seed 1 |
      "$python" -c 'import json,sys; d=json.load(sys.stdin); print(d["loss"], d["inertia"])')
    "$python" - "$(basename "$photo")" "$k" "$d_loss" "$p_loss" "$sk_loss" "$p_sse" "$sk_sse" <<'PY'
import sys
name, k, d, p, s, ps, ss = sys.argv[1:]
d, p, s, ps, ss = map(float, (d, p, s, ps, ss))
print(f"| {name} | {k} | {d:.3f} | {p:.3f} | {s:.3f} | {p / s:.3f} | {ps:.4g} | {ss:.4g} | {ps / ss:.3f} |")
PY
  done
done
