"""The benchmark's own Docker engines: the stand-in image with a slower health probe, removing what the
benchmark made on them (containers one at a time, see `remove_managed`), and what the stand-ins logged."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import docker
import docker.errors
from tests.harness.dockerd import CACHE_DIR, TlsDockerd
from tests.harness.images import STANDIN_TAG, build_image, ensure_standin_image

from yourclaw.runtime.container_spec import LABEL_MANAGED
from yourclaw.runtime.reconciler import HOST_CONCURRENCY
from yourclaw.standins.assistant import HEALTHCHECK_CMD

# Engines of the benchmark's own (not the test suite's yc-e1/yc-e2: a test session may hold those).
ENGINES = (("yc-bench1", 23781), ("yc-bench2", 23782))
BENCH_TAG = "yourclaw-standin:bench"
BASE_ID_LABEL = "yourclaw.bench.base-id"


def build_bench_image(client: docker.DockerClient, interval: int | None) -> str:
    """The stand-in image; with `interval`, a thin layer on it that only slows its HEALTHCHECK (same command,
    same contract): the stand-in's 2 s probe is a python3 exec per container every 2 s, and a few hundred of
    those alone outrun two cores."""
    standin = ensure_standin_image(client, CACHE_DIR / "images", STANDIN_TAG)
    if not interval:
        return standin
    context = Path(tempfile.mkdtemp(prefix="bench-image-"))
    try:
        (context / "Dockerfile").write_text(
            "ARG BASE\nFROM ${BASE}\n"
            f"HEALTHCHECK --interval={interval}s --timeout=2s --start-period=5s --retries=3 "
            f"CMD {json.dumps(HEALTHCHECK_CMD)}\n"
        )
        base_id = client.images.get(standin).id
        return build_image(client, standin, context, BENCH_TAG, labels={BASE_ID_LABEL: base_id})
    finally:
        shutil.rmtree(context, ignore_errors=True)


def remove_managed(engine: TlsDockerd) -> tuple[int, int]:
    """Every container and volume labelled yourclaw.managed on this (benchmark-only) engine. Containers go one
    at a time: force-removing a hundred of them 8 at a time made this Docker (20.10) lose count of the network's
    endpoints (the network then refuses removal with "has active endpoints", until dockerd restarts and logs
    "Fixing inconsistent endpoint_cnt"); one at a time it did not, at ~0.1 s a container."""
    with closing(engine.client(timeout=120)) as client:
        api = client.api
        containers = [c["Id"] for c in api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=true"})]
        for container_id in containers:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(container_id, force=True)
        volumes = [v["Name"] for v in (api.volumes(filters={"label": f"{LABEL_MANAGED}=true"}).get("Volumes") or [])]

        def rm_volume(name: str) -> None:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_volume(name, force=True)

        with ThreadPoolExecutor(HOST_CONCURRENCY) as pool:
            list(pool.map(rm_volume, volumes))
    return len(containers), len(volumes)


def remove_managed_everywhere(engines: list[TlsDockerd]) -> None:
    with ThreadPoolExecutor(len(engines)) as pool:
        list(pool.map(remove_managed, engines))


def standin_log_summary(engines: list[TlsDockerd]) -> list[str]:
    """What the stand-ins themselves logged (JSON lines on stderr): retries and refusals show here."""
    events: Counter[str] = Counter()
    odd: list[str] = []  # the first container's lines that are not the stand-in's JSON (a traceback, say)
    odd_in = 0
    containers = 0
    for engine in engines:
        with closing(engine.client(timeout=60)) as client:
            ids = [c["Id"] for c in client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=true"})]
            containers += len(ids)

            def read(cid: str) -> list[str]:
                try:
                    return (
                        client.api.logs(cid, stdout=True, stderr=True, tail=500).decode(errors="replace").splitlines()
                    )
                except docker.errors.APIError:
                    return []

            with ThreadPoolExecutor(HOST_CONCURRENCY) as pool:
                for lines in pool.map(read, ids):
                    plain = []
                    for line in lines:
                        try:
                            events[json.loads(line).get("event", "?")] += 1
                        except ValueError:
                            events["(not JSON)"] += 1
                            plain.append(line[:200])
                    if plain:
                        odd_in += 1
                        odd = odd or plain[:30]
    listed = ", ".join(f"{name}: {n}" for name, n in events.most_common())
    lines = [f"Stand-in logs over {containers} containers: {listed or 'nothing'}."]
    if odd:
        lines.append(f"  {odd_in} container(s) wrote other lines; the first one's:")
        lines += [f"    | {line}" for line in odd]
    return lines
