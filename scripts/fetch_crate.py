"""Downloads one crate's published sources from crates.io, checks them against
a pinned SHA-256 and unpacks them as DEST/NAME-VERSION/.

Usage: fetch_crate.py NAME VERSION SHA256 DEST
"""

import hashlib
import io
import pathlib
import sys
import tarfile
import urllib.request


def main() -> None:
    if len(sys.argv) != 5:
        sys.exit(__doc__.strip())
    name, version, sha256, dest = sys.argv[1:]
    url = f"https://static.crates.io/crates/{name}/{name}-{version}.crate"
    with urllib.request.urlopen(url, timeout=120) as response:
        archive = response.read()
    digest = hashlib.sha256(archive).hexdigest()
    if digest != sha256:
        sys.exit(f"{url}: SHA-256 {digest}, expected {sha256}")
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    if not (dest / f"{name}-{version}" / "Cargo.toml").is_file():
        sys.exit(f"{url}: no {name}-{version}/Cargo.toml in the archive")


if __name__ == "__main__":
    main()
