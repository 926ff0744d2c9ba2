#!/usr/bin/env bash
# Runs every fuzz target for a short time, so that CI catches a target that
# crashes on its seed corpus or within its first seconds of mutation.
#
# Usage: fuzz/run-smoke.sh [TOTAL_SECONDS]   (default 300, split evenly)
# A longer local run of one target:
#   cd fuzz && cargo +nightly fuzz run TARGET -- -max_total_time=3600
set -euo pipefail
cd "$(dirname "$0")"

total_seconds="${1:-300}"

if ! command -v cargo-fuzz >/dev/null; then
    echo "==> installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

mapfile -t targets < <(cargo +nightly fuzz list)
if [ "${#targets[@]}" -eq 0 ]; then
    echo "no fuzz targets found" >&2
    exit 1
fi
per_target=$(( total_seconds / ${#targets[@]} ))
[ "$per_target" -ge 5 ] || per_target=5

echo "==> building ${#targets[@]} fuzz targets"
cargo +nightly fuzz build -O

for target in "${targets[@]}"; do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    # Mutations go to a scratch folder, so the committed seed corpus stays small.
    scratch="$(mktemp -d)"
    echo "==> fuzzing $target for ${per_target}s"
    cargo +nightly fuzz run -O "$target" "$scratch" "$corpus" -- \
        -max_total_time="$per_target" -print_final_stats=0 >"$scratch.log" 2>&1 || {
        tail -n 40 "$scratch.log" >&2
        echo "fuzz target $target failed; the crashing input is under fuzz/artifacts/$target" >&2
        exit 1
    }
    rm -rf "$scratch" "$scratch.log"
done
echo "==> ${#targets[@]} fuzz targets passed"
