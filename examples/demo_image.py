"""Write a tiny OCI image layout that skopeo can push, using only the standard library.

Usage: python examples/demo_image.py DIRECTORY [TAG] [MESSAGE]

The image has one layer with the file hello.txt containing MESSAGE, so
different messages give images with different digests.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path


def store_blob(layout: Path, data: bytes) -> dict[str, object]:
    """Store ``data`` under blobs/sha256/ and return its digest and size."""
    digest = hashlib.sha256(data).hexdigest()
    blob_dir = layout / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    (blob_dir / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def layer_tar(message: str) -> bytes:
    content = message.encode() + b"\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        entry = tarfile.TarInfo("hello.txt")
        entry.size = len(content)
        entry.mode = 0o644
        archive.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()


def write_layout(layout: Path, tag: str, message: str) -> str:
    """Write the image and return its manifest digest."""
    tar = layer_tar(message)
    layer = store_blob(layout, gzip.compress(tar, mtime=0))

    config = {
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["cat", "/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
    }
    config_blob = store_blob(layout, json.dumps(config).encode())

    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_blob},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }
    manifest_blob = store_blob(layout, json.dumps(manifest).encode())

    # Keep the other tags of an existing layout; replace only this one.
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"schemaVersion": 2}
    others = [
        entry
        for entry in index.get("manifests", [])
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag
    ]
    entry = {
        "mediaType": manifest["mediaType"],
        **manifest_blob,
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    index["manifests"] = [*others, entry]
    index_path.write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return str(manifest_blob["digest"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="OCI layout directory to write or extend")
    parser.add_argument("tag", nargs="?", default="v1", help="tag of the image (default: v1)")
    parser.add_argument(
        "message", nargs="?", default="Hello from the edge", help="content of hello.txt"
    )
    arguments = parser.parse_args()
    arguments.directory.mkdir(parents=True, exist_ok=True)

    digest = write_layout(arguments.directory, arguments.tag, arguments.message)
    print(f"Wrote oci:{arguments.directory}:{arguments.tag} ({digest})")


if __name__ == "__main__":
    main()
