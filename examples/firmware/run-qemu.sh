#!/usr/bin/env bash
# Builds the firmware image, boots it in QEMU (MPS2 AN386, Cortex-M4F) with
# UART0 connected to the host-side gateway peer over a loopback TCP socket,
# and exits 0 only when the firmware reports success through semihosting
# and the peer found every byte it received right.
#
# The image is built with the insecure-fixed-rng feature and
# --cfg palisade_qemu_check: the board has no RNG, so the check runs on a
# fixed, public seed. Without that cfg the feature refuses to compile.
#
# Environment: CARGO_TARGET_DIR (default: target/ of each workspace),
# QEMU_TIMEOUT seconds (default 300), ICOUNT=0 to run without -icount.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
timeout_s="${QEMU_TIMEOUT:-300}"

fw_target="${CARGO_TARGET_DIR:-$here/target}"
host_target="${CARGO_TARGET_DIR:-$root/target}"

echo "run-qemu: building the firmware image"
(cd "$here" && RUSTFLAGS="--cfg palisade_qemu_check -C link-arg=-Tlink.x" \
    CARGO_TARGET_DIR="$fw_target" cargo build --release --features insecure-fixed-rng)
image="$fw_target/thumbv7em-none-eabihf/release/palisade-firmware"

echo "run-qemu: building the host-side peer"
(cd "$root" && CARGO_TARGET_DIR="$host_target" cargo build -p palisade-examples --example firmware_peer)
peer_bin="$host_target/debug/examples/firmware_peer"

work="$(mktemp -d)"
peer_pid=""
cleanup() {
    if [[ -n "$peer_pid" ]] && kill -0 "$peer_pid" 2>/dev/null; then
        kill "$peer_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

timeout "$timeout_s" "$peer_bin" "$work/port" &
peer_pid=$!
for _ in $(seq 1 200); do
    [[ -s "$work/port" ]] && break
    sleep 0.05
done
if [[ ! -s "$work/port" ]]; then
    echo "run-qemu: FAIL: the peer did not start listening" >&2
    exit 1
fi
port="$(cat "$work/port")"

icount=()
if [[ "${ICOUNT:-1}" != "0" ]]; then
    # One instruction advances virtual time by 1 ns, so SysTick ticks count
    # instructions (see the firmware's ticks()).
    icount=(-icount shift=0)
fi

echo "run-qemu: booting the image, UART0 -> 127.0.0.1:$port"
set +e
timeout "$timeout_s" qemu-system-arm \
    -machine mps2-an386 -cpu cortex-m4 \
    "${icount[@]}" \
    -nographic -monitor none \
    -semihosting-config enable=on,target=native \
    -chardev "socket,id=uart0,host=127.0.0.1,port=$port" \
    -serial chardev:uart0 \
    -kernel "$image"
qemu_status=$?
wait "$peer_pid"
peer_status=$?
peer_pid=""
set -e

echo "run-qemu: firmware exit status $qemu_status, peer exit status $peer_status"
if [[ $qemu_status -ne 0 || $peer_status -ne 0 ]]; then
    echo "run-qemu: FAIL" >&2
    exit 1
fi
echo "run-qemu: PASS"
