"""The peak resident set size of the calling process, as the Rust side
measures its own (`VmHWM` of /proc/self/status). `ru_maxrss` would not do
for a peer: Linux carries the spawning process's peak across the exec, so a
peer started by `caltech-anomaly bench` would report at least ours."""


def peak_rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")
