"""What every peer script prints: one JSON line
{"name", "images", "seconds", "peak_rss_bytes"}, the peak resident set size
measured as the Rust side measures its own (`VmHWM` of /proc/self/status).
`ru_maxrss` would not do for a peer: Linux carries the spawning process's
peak across the exec, so a peer started by `caltech-anomaly bench` would
report at least ours."""

import json


def peak_rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


def print_measurement(name: str, images: int, seconds: float) -> None:
    print(json.dumps({
        "name": name,
        "images": images,
        "seconds": seconds,
        "peak_rss_bytes": peak_rss_bytes(),
    }))
