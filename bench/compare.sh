#!/usr/bin/env bash
# Whole-process comparison of kquant's k_means with the tools a user would otherwise pick, on one photo,
# side by side in one run (this machine is noisy: compare ratios, not absolute seconds).
#
#   bench/compare.sh PHOTO [K]          (K defaults to 16)
#
# Runs, each only when available:
#   - kquant defaults (the original's method: random init, 20 restarts, <= 20 epochs), the best mode
#     (--init kmeans++ --empty reseed, 20 restarts), the best mode with one restart, --fast (Wu's
#     start, <= 20 epochs) and Wu's start run to convergence;
#     target/release/k_means, built if missing
#   - scikit-learn:  ../shared/bench/sk_bench.py PHOTO K random20   (needs numpy, pillow, scikit-learn;
#                    set PYTHON to the interpreter, e.g. PYTHON=.venv/bin/python)
#   - kmeans_colors: kmeans_colors -i PHOTO -k K --rgb -r 20 --no-file -p   (cargo install kmeans_colors)
#   - quantette 0.6, k-means (minibatch, Oklab) and Wu, no dithering, all cores: bench/quantette-cmp,
#     its own crate outside kquant's workspace (built if missing: cd bench/quantette-cmp && cargo
#     build --release; or set QUANTETTE to its binary)
#   - pngquant --nofs, at --speed 1 and at its default speed (apt-get install pngquant), on a PNG copy
#     of the photo
# and prints wall time, peak memory (from /usr/bin/time), colours used and PSNR (the loss too where the
# tool reports one), with each tool's time against kquant's best mode with one restart.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
photo="${1:?usage: bench/compare.sh PHOTO [K]}"
k="${2:-16}"
python="${PYTHON:-python3}"
shared="${SHARED:-$here/../shared/bench}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
timer=/usr/bin/time
[ -x "$timer" ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

[ -x "$here/target/release/k_means" ] || (cd "$here" && cargo build --release --quiet)
qc="${QUANTETTE:-$here/bench/quantette-cmp/target/release/quantette-cmp}"
if [ ! -x "$qc" ] && [ -z "${QUANTETTE:-}" ]; then
  (cd "$here/bench/quantette-cmp" && cargo build --release --quiet) 2>/dev/null || true
fi

# measure NAME COMMAND...: runs it under /usr/bin/time, keeps stdout in $out/NAME.out
measure() {
  local name="$1"; shift
  "$timer" -f "%e %M" -o "$out/$name.time" "$@" >"$out/$name.out" 2>"$out/$name.err"
  read -r wall kb <"$out/$name.time"
  echo "$wall $((kb / 1024))"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "?" }'; }
row() { printf '%-30s %8s %8s %8s %9s %9s %8s\n' "$@"; }
json() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1"; }

row tool "wall s" "peak MB" colours "PSNR dB" loss "time/kq1"
# kquant NAME ARGS...: one k_means run; prints its row (time against the one-restart best mode).
kquant() {
  local name="$1"; shift
  read -r wall mb < <(measure "$name" "$here/target/release/k_means" "$photo" "$k" -l --seed 1 \
    --timings --out-dir "$out/$name" "$@")
  local summary colours psnr loss
  summary=$(grep '^k = ' "$out/$name.out")
  colours=$(echo "$summary" | sed -n 's/.*, \([0-9]*\) of [0-9]* colours used.*/\1/p')
  psnr=$(echo "$summary" | sed -n 's/.*PSNR \([0-9.]*\) dB.*/\1/p')
  loss=$(cat "$out/$name"/output*/loss_k"$k".txt)
  echo "$wall" >"$out/$name.wall"
  row "$name" "$wall" "$mb" "$colours" "$psnr" "$loss" "$(ratio "$wall" "$(cat "$out/kquant best, 1 restart.wall" 2>/dev/null || echo "$wall")")"
  grep -h '^timings:' "$out/$name.err" | sed 's/^timings: /    /'
}
kquant "kquant best, 1 restart" --init kmeans++ --empty reseed --restarts 1
kq1=$(cat "$out/kquant best, 1 restart.wall")
kquant "kquant best (20 restarts)" --init kmeans++ --empty reseed
kquant "kquant defaults" 
kquant "kquant --fast" --fast
kquant "kquant --init wu --empty reseed" --init wu --empty reseed

if [ -x "$qc" ]; then
  for method in kmeans wu; do
    read -r wall mb < <(measure "quantette-$method" "$qc" "$photo" "$k" "$method")
    f="$out/quantette-$method.out"
    row "quantette $method" "$wall" "$mb" "$(json "$f" colours)" "$(json "$f" psnr)" \
      "$(json "$f" loss_rgb)" "$(ratio "$wall" "$kq1")"
  done
else
  echo "quantette: not built (cd bench/quantette-cmp && cargo build --release)"
fi

if command -v pngquant >/dev/null && [ -x "$qc" ]; then
  "$qc" topng "$photo" "$out/photo.png"
  for speed in 1 default; do
    args=(--nofs --force --output "$out/pngquant-$speed.png")
    [ "$speed" = default ] || args+=(--speed "$speed")
    read -r wall mb < <(measure "pngquant-$speed" pngquant "${args[@]}" "$k" "$out/photo.png")
    "$qc" score "$photo" "$out/pngquant-$speed.png" >"$out/pngquant-$speed.score"
    f="$out/pngquant-$speed.score"
    row "pngquant --speed $speed" "$wall" "$mb" "$(json "$f" colours)" "$(json "$f" psnr)" \
      "$(json "$f" loss_rgb)" "$(ratio "$wall" "$kq1")"
  done
  echo "    (pngquant reads a PNG copy of the photo, made beforehand and not timed)"
else
  echo "pngquant: not available (apt-get install pngquant; it is scored with bench/quantette-cmp)"
fi

if "$python" -c 'import sklearn, numpy, PIL' 2>/dev/null && [ -f "$shared/sk_bench.py" ]; then
  read -r sk_wall sk_mb < <(measure sklearn env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    "$python" "$shared/sk_bench.py" "$photo" "$k" random20)
  read -r sk_fit sk_loss < <("$python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["fit_s"], d["loss"])' "$out/sklearn.out")
  row "scikit-learn random20" "$sk_wall" "$sk_mb" "" "" "$sk_loss" "$(ratio "$sk_wall" "$kq1")"
  row "  (fit alone)" "$sk_fit" "" "" "" "" ""
else
  echo "scikit-learn: not available (set PYTHON to an interpreter with numpy, pillow, scikit-learn)"
fi

if command -v kmeans_colors >/dev/null; then
  read -r kc_wall kc_mb < <(measure kmeans_colors kmeans_colors -i "$photo" -k "$k" --rgb -r 20 --no-file -p)
  palette=$(grep -Eo '#?[0-9a-fA-F]{6}' "$out/kmeans_colors.out" | tr '\n' ' ')
  kc_loss=$("$python" "$shared/palette_loss.py" "$photo" "$(echo "$palette" | tr ' ' '\n')" 2>/dev/null || echo nan)
  row kmeans_colors "$kc_wall" "$kc_mb" "" "" "$kc_loss" "$(ratio "$kc_wall" "$kq1")"
else
  echo "kmeans_colors: not installed (cargo install kmeans_colors)"
fi
