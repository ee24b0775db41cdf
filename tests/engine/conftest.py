from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from yourclaw.runtime.certs import init_ca

from .dockerd import CACHE_DIR, TlsDockerd, ensure_docker_installed
from .images import build_image, ensure_base_image

TINY_IMAGE = "yourclaw-test-tiny:latest"
TINY_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
COPY answer.py /opt/answer.py
USER 1000:1000
ENTRYPOINT ["/usr/bin/tini", "--"]
"""


@dataclass(frozen=True)
class Engines:
    tls_dir: Path
    e1: TlsDockerd
    e2: TlsDockerd


@pytest.fixture(scope="session")
def engines() -> Iterator[Engines]:
    ensure_docker_installed()
    # Not pytest's tmp_path: pytest prunes old base temp dirs, even one a concurrent session still reads
    # its client certificate from.
    workdir = Path(tempfile.mkdtemp(prefix="yourclaw-test-engines-"))
    tls_dir = workdir / "tls"
    init_ca(tls_dir)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        e1 = stack.enter_context(TlsDockerd("yc-e1", 23761, tls_dir, CACHE_DIR / "yc-e1"))
        e2 = stack.enter_context(TlsDockerd("yc-e2", 23762, tls_dir, CACHE_DIR / "yc-e2"))
        for engine in (e1, e2):
            _remove_all_containers(engine)
        yield Engines(tls_dir=tls_dir, e1=e1, e2=e2)


def _remove_all_containers(engine: TlsDockerd) -> None:
    # These engines exist only for tests, so anything already in them was left by an interrupted run.
    with closing(engine.client(timeout=60)) as client:
        for container in client.containers.list(all=True, sparse=True):
            container.remove(force=True)


@pytest.fixture(scope="session")
def tiny_image(engines: Engines) -> str:
    """A small image on engine e1, built FROM the imported base: python3, tini, nothing else."""
    context = engines.tls_dir.parent / "tiny-image"
    context.mkdir()
    (context / "Dockerfile").write_text(TINY_DOCKERFILE)
    (context / "answer.py").write_text("print(42)\n")
    with closing(engines.e1.client(timeout=300)) as client:
        base = ensure_base_image(client, CACHE_DIR / "images")
        return build_image(client, base, context, TINY_IMAGE)
