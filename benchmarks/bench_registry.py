"""Benchmarks of the MS registry API against the raw registry calls a script would make.

Usage: .venv/bin/python -m benchmarks.bench_registry [--repositories N] [--tags N] [--repeats N]

The script starts its own service with an embedded registry in a temporary
directory, fills the registry through the distribution API (one image pushed
with skopeo, then cross-repository blob mounts and manifest uploads), and
times each scenario ``--repeats`` times. It prints the median of each
scenario, the ratio against the raw registry calls, and the service's peak
resident memory (VmHWM). Nothing here asserts on time; docs/benchmarks.md
records the results.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.support import oci
from tests.support.service import ApiSession, RunningService, running_service

from nerve_registry.distribution.auth import parse_bearer_challenge

MANIFEST_ACCEPT = (
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)


@dataclass
class Result:
    scenario: str
    ours: list[float]
    raw: list[float] | None

    def row(self) -> str:
        ours = statistics.median(self.ours)
        if self.raw is None:
            return f"| {self.scenario} | {ours * 1000:.1f} ms | - | - |"
        raw = statistics.median(self.raw)
        return (
            f"| {self.scenario} | {ours * 1000:.1f} ms | {raw * 1000:.1f} ms | {ours / raw:.2f} |"
        )


class RawRegistry:
    """Distribution API calls as a plain script makes them: one request after another.

    It responds to a Bearer challenge with a token from the service's token
    endpoint when the registry requests one.
    """

    def __init__(self, service: RunningService) -> None:
        self.service = service
        self.http = httpx.Client(base_url=service.registry_url, timeout=60)
        self.tokens: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)  # type: ignore[arg-type]
        challenge = response.headers.get("www-authenticate", "")
        if response.status_code == 401 and challenge.lower().startswith("bearer"):
            headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
            headers["Authorization"] = f"Bearer {self._token(challenge)}"
            response = self.http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
        return response

    def _token(self, challenge: str) -> str:
        # A scope such as "repository:a:pull,push" contains commas, so the header
        # needs a real parser rather than a split at each comma.
        parsed = parse_bearer_challenge(challenge)
        if parsed is None:
            raise ValueError(f"not a Bearer challenge: {challenge!r}")
        scope = parsed.scope
        if scope not in self.tokens:
            response = httpx.get(
                parsed.realm,
                params={"service": parsed.service, "scope": scope.split()},
                auth=("admin", self.service.admin_password),
                timeout=30,
            )
            response.raise_for_status()
            self.tokens[scope] = response.json()["token"]
        return self.tokens[scope]

    def tag_counts(self, n: int) -> dict[str, int]:
        catalog = self.request("GET", "/v2/_catalog", params={"n": n}).json()["repositories"]
        counts = {}
        for name in catalog:
            tags = self.request("GET", f"/v2/{name}/tags/list").json().get("tags") or []
            counts[name] = len(tags)
        return counts

    def tag_details(self, repository: str) -> list[dict[str, object]]:
        details = []
        tags = self.request("GET", f"/v2/{repository}/tags/list").json()["tags"]
        for tag in tags:
            manifest = self.request(
                "GET", f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}
            ).json()
            config = self.request("GET", f"/v2/{repository}/blobs/{manifest['config']['digest']}")
            details.append({"tag": tag, "created": config.json().get("created")})
        return details

    def check(self, repository: str, tag: str) -> bool:
        manifest = self.request(
            "GET", f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}
        )
        if manifest.status_code != 200:
            return False
        body = manifest.json()
        for blob in [body["config"], *body["layers"]]:
            if self.request("HEAD", f"/v2/{repository}/blobs/{blob['digest']}").status_code != 200:
                return False
        return True


def fill_registry(
    service: RunningService, raw: RawRegistry, work: Path, repositories: int, tags: int
) -> None:
    """Push one image with skopeo, then copy it into many repositories and under many tags."""
    source = "bench/source"
    image = oci.write_image(work / "layout", "v1", layers=3)
    service.push(work / "layout", "v1", f"{source}:v1")
    manifest = oci.read_blob(work / "layout", image.manifest_digest)

    for number in range(repositories):
        copy_image(raw, image, manifest, source, f"bench/repo{number:05d}", ["v1"])

    copy_image(raw, image, manifest, source, "bench/tagged", [f"t{n:04d}" for n in range(tags)])


def copy_image(
    raw: RawRegistry,
    image: oci.ImageInfo,
    manifest: bytes,
    source: str,
    target: str,
    tags: list[str],
) -> None:
    """Mount the image's blobs from ``source`` into ``target`` and tag its manifest."""
    for digest in image.blob_digests:
        raw.request(
            "POST", f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source}
        )

    for tag in tags:
        raw.request(
            "PUT",
            f"/v2/{target}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": image.manifest_media_type},
        )


def timed(function: Callable[[], object], repeats: int) -> list[float]:
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        durations.append(time.perf_counter() - started)
    return durations


def peak_memory_kib(service: RunningService) -> int:
    status = Path(f"/proc/{service.process.pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run(repositories: int, tags: int, repeats: int, service_args: list[str]) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="nerve-bench-") as directory:
        work = Path(directory)
        with running_service(work / "service", extra_args=service_args) as service:
            api: ApiSession = service.api()
            raw = RawRegistry(service)
            fill_registry(service, raw, work, repositories, tags)
            references = [f"bench/repo{number:05d}:v1" for number in range(min(repositories, 50))]

            def call(endpoint: str, body: object) -> None:
                response = api.registry_call(endpoint, body)
                response.raise_for_status()

            results = [
                Result(
                    f"images, page of 100 of {repositories + 2}",
                    timed(lambda: call("images", {"limit": 100}), repeats),
                    timed(lambda: raw.tag_counts(101), repeats),
                ),
                Result(
                    f"images, all {repositories + 2}",
                    timed(lambda: call("images", {}), repeats),
                    timed(lambda: raw.tag_counts(1000), repeats),
                ),
                Result(
                    f"image-tags, {tags} tags",
                    timed(lambda: call("image-tags", {"image": "bench/tagged"}), repeats),
                    timed(lambda: raw.tag_details("bench/tagged"), repeats),
                ),
                Result(
                    f"check-images-status, {len(references)} images",
                    timed(lambda: call("check-images-status", {"images": references}), repeats),
                    timed(
                        lambda: [raw.check(*reference.split(":")) for reference in references],
                        repeats,
                    ),
                ),
            ]
            memory = peak_memory_kib(service)

    print(f"peak service memory (VmHWM): {memory / 1024:.1f} MiB")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repositories", type=int, default=500)
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", dest="json_path", type=Path, default=None)
    parser.add_argument(
        "--service-arg",
        dest="service_args",
        action="append",
        default=[],
        help="Extra argument for nerve-registry serve, e.g. --service-arg=--registry-concurrency=4",
    )
    arguments = parser.parse_args()

    results = run(arguments.repositories, arguments.tags, arguments.repeats, arguments.service_args)

    print("| scenario | MS API (median) | raw registry, sequential (median) | ratio |")
    print("| --- | --- | --- | --- |")
    for result in results:
        print(result.row())

    if arguments.json_path:
        arguments.json_path.write_text(
            json.dumps([result.__dict__ for result in results], indent=2)
        )


if __name__ == "__main__":
    main()
