#!/usr/bin/env python3
"""Groups the symbols of the firmware image by component (crate) and prints
.text (code and read-only data), .data and .bss bytes per component.

Usage: size-report.py IMAGE. Reads `arm-none-eabi-nm --size-sort -S -C`.
A generic function counts for the crate that defines it, and code that LTO
inlined into a caller counts for the caller, so the split is by symbol name
after inlining, not by source file.
"""
import collections
import subprocess
import sys

GROUPS = [
    ("schema", ["palisade_schema"]),
    ("wire", ["palisade_wire"]),
    ("transport", ["palisade_transport"]),
    ("credential", ["palisade_credential"]),
    ("agent", ["palisade_agent"]),
    ("crypto", ["ed25519", "curve25519", "x25519", "chacha20", "poly1305", "sha2", "hkdf",
                "hmac", "digest", "aead", "cipher", "universal_hash", "zeroize", "subtle",
                "block_buffer", "crypto_common", "signature"]),
    ("serialization", ["postcard", "serde", "heapless"]),
    ("firmware", ["palisade_firmware", "cortex_m", "main", "__cortex_m_rt", "Reset", "SysTick",
                  "HardFault", "DefaultHandler", "__pre_init", "cortex_m_semihosting"]),
    ("core", ["core::", "<core::", "compiler_builtins", "__aeabi", "memcpy", "memset", "memmove",
              "memcmp", "__udiv", "__mul", "__ashl", "__lshr", "__clz", "_ZN4core", "<&", "<T as", "<[", "<(", "<u", "<i"]),
]


def component(name):
    for group, prefixes in GROUPS:
        for prefix in prefixes:
            if prefix in name.split("::")[0] or name.startswith(prefix) or ("<" + prefix) in name[:40]:
                return group
    return "other"


def main():
    image = sys.argv[1]
    out = subprocess.run(["arm-none-eabi-nm", "--size-sort", "-S", "-C", image],
                         check=True, capture_output=True, text=True).stdout
    sizes = collections.defaultdict(lambda: collections.Counter())
    largest = collections.defaultdict(list)
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        _, size, kind, name = parts
        size = int(size, 16)
        kind = kind.lower()
        section = {"t": "text", "r": "text", "d": "data", "b": "bss"}.get(kind)
        if section is None:
            continue
        group = component(name)
        sizes[group][section] += size
        largest[group].append((size, name))
    print(f"{'component':<14}{'.text':>9}{'.data':>8}{'.bss':>8}")
    total = collections.Counter()
    for group, _ in GROUPS + [("other", [])]:
        if group not in sizes:
            continue
        s = sizes[group]
        total.update(s)
        print(f"{group:<14}{s['text']:>9}{s['data']:>8}{s['bss']:>8}")
    print(f"{'total':<14}{total['text']:>9}{total['data']:>8}{total['bss']:>8}")
    if "-v" in sys.argv:
        for group in sizes:
            print(f"\n{group}: largest symbols")
            for size, name in sorted(largest[group], reverse=True)[:12]:
                print(f"  {size:>7}  {name[:110]}")


if __name__ == "__main__":
    main()
