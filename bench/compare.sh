#!/usr/bin/env bash
# Whole-process comparison of kquant's k_means with the tools a user would otherwise pick, on one photo,
# side by side in one run (this machine is noisy: compare ratios, not absolute seconds).
#
#   bench/compare.sh PHOTO [K]          (K defaults to 16)
#
# Runs, each only when available, with the original's settings (random init, 20 restarts, <= 20 epochs):
#   - kquant:        target/release/k_means PHOTO K -l --seed 1 --timings   (built if missing)
#   - scikit-learn:  ../shared/bench/sk_bench.py PHOTO K random20           (needs numpy, pillow,
#                    scikit-learn; set PYTHON to the interpreter, e.g. PYTHON=.venv/bin/python)
#   - kmeans_colors: kmeans_colors -i PHOTO -k K --rgb -r 20 --no-file -p   (cargo install kmeans_colors)
# and prints wall time, peak memory (from /usr/bin/time), loss, and ratios against kquant.
# The loss of kmeans_colors' palette is measured with ../shared/bench/palette_loss.py.
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

# measure NAME COMMAND...: runs it under /usr/bin/time, keeps stdout in $out/NAME.out
measure() {
  local name="$1"; shift
  "$timer" -f "%e %M" -o "$out/$name.time" "$@" >"$out/$name.out" 2>"$out/$name.err"
  read -r wall kb <"$out/$name.time"
  echo "$wall $((kb / 1024))"
}

printf '%-16s %10s %10s %10s %12s\n' tool "wall s" "peak MB" loss "kquant is"
read -r kq_wall kq_mb < <(measure kquant "$here/target/release/k_means" "$photo" "$k" -l --seed 1 \
  --timings --out-dir "$out/runs")
kq_loss=$(cat "$out"/runs/output*/loss_k"$k".txt)
printf '%-16s %10s %10s %10.4f %12s\n' kquant "$kq_wall" "$kq_mb" "$kq_loss" "-"
grep -h '^timings:' "$out/kquant.err" | sed 's/^/    kquant /'

ratio() { "$python" -c "print(f'{$1/$2:.1f}x faster')" 2>/dev/null || echo "?"; }

if "$python" -c 'import sklearn, numpy, PIL' 2>/dev/null && [ -f "$shared/sk_bench.py" ]; then
  read -r sk_wall sk_mb < <(measure sklearn env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    "$python" "$shared/sk_bench.py" "$photo" "$k" random20)
  read -r sk_fit sk_loss < <("$python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["fit_s"], d["loss"])' "$out/sklearn.out")
  printf '%-16s %10s %10s %10.4f %12s\n' "scikit-learn" "$sk_wall" "$sk_mb" "$sk_loss" "$(ratio "$sk_wall" "$kq_wall")"
  printf '%-16s %10s %10s %10s %12s\n' "  (fit alone)" "$sk_fit" "" "" "$(ratio "$sk_fit" "$kq_wall")"
else
  echo "scikit-learn: not available (set PYTHON to an interpreter with numpy, pillow, scikit-learn)"
fi

if command -v kmeans_colors >/dev/null; then
  read -r kc_wall kc_mb < <(measure kmeans_colors kmeans_colors -i "$photo" -k "$k" --rgb -r 20 --no-file -p)
  palette=$(grep -Eo '#?[0-9a-fA-F]{6}' "$out/kmeans_colors.out" | tr '\n' ' ')
  kc_loss=$("$python" "$shared/palette_loss.py" "$photo" "$(echo "$palette" | tr ' ' '\n')" 2>/dev/null || echo nan)
  printf '%-16s %10s %10s %10s %12s\n' kmeans_colors "$kc_wall" "$kc_mb" "$kc_loss" "$(ratio "$kc_wall" "$kq_wall")"
else
  echo "kmeans_colors: not installed (cargo install kmeans_colors)"
fi
