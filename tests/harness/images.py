"""Test images made without a registry: a debootstrap root filesystem imported as the base, then ordinary
builds FROM it. Both steps are keyed by a hash of their inputs, so a warm engine does no work at all."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import docker
import docker.errors

from tests.harness.dockerd import ensure_installed, unmount_under

BASE_REPOSITORY = "yourclaw-test-base"
STANDIN_TAG = "yourclaw-standin:test"
STANDIN_V2_TAG = "yourclaw-standin:test-v2"
VARIANT_LABEL = "yourclaw.variant"
REPO_ROOT = Path(__file__).resolve().parents[2]
STANDIN_DOCKERFILE = REPO_ROOT / "infra" / "image" / "standin" / "Dockerfile"
STANDIN_SCRIPT = REPO_ROOT / "src" / "yourclaw" / "standins" / "assistant.py"
INPUTS_LABEL = "yourclaw.inputs"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

BASE_RECIPE = {
    "suite": "bookworm",
    "variant": "minbase",
    # python3, not python3-minimal: the minimal one has no http, json or secrets, which the stand-in imports.
    "include": ["python3", "tini", "ca-certificates"],
    "changes": [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        'CMD ["/bin/sh"]',
    ],
    # Bump when the way the root filesystem is made or trimmed changes.
    "revision": 1,
}
# apt's downloaded packages and package lists: dead weight in every image, and `apt-get update` brings the
# lists back for a build that needs them.
TRIMMED = ["var/cache/apt/archives", "var/lib/apt/lists"]


def ensure_base_image(client: docker.DockerClient, cache_dir: Path) -> str:
    """Tag of the base image in this engine, importing it (and first making its tarball) only if missing."""
    digest = _digest(json.dumps(BASE_RECIPE, sort_keys=True).encode())
    tag = f"{BASE_REPOSITORY}:{digest}"
    if _image_exists(client, tag):
        return tag
    tarball = _base_tarball(Path(cache_dir), digest)
    answer = client.api.import_image_from_file(
        str(tarball), repository=BASE_REPOSITORY, tag=digest, changes=BASE_RECIPE["changes"]
    )
    _raise_on_stream_error(answer, f"import of {tarball}")
    if not _image_exists(client, tag):
        raise RuntimeError(f"import of {tarball} did not produce {tag}: {answer}")
    return tag


def ensure_standin_image(
    client: docker.DockerClient, cache_dir: Path, tag: str = STANDIN_TAG, *, variant: str | None = None
) -> str:
    """The stand-in assistant image (infra/image/standin) as `tag`, built FROM the base with the current
    src/yourclaw/standins/assistant.py. A `variant` becomes a label, so the same content makes a distinct image
    (an "image changed" for the control plane)."""
    base = ensure_base_image(client, cache_dir)
    context = Path(tempfile.mkdtemp(prefix="standin-context-"))
    try:
        # The image's own names: the Dockerfile copies `standin.py`.
        for source, name in ((STANDIN_DOCKERFILE, "Dockerfile"), (STANDIN_SCRIPT, "standin.py")):
            target = context / name
            shutil.copyfile(source, target)
            target.chmod(0o644)  # the digest covers modes: keep it independent of the checkout's umask
        labels = {VARIANT_LABEL: variant} if variant else None
        return build_image(client, base, context, tag, labels=labels)
    finally:
        shutil.rmtree(context, ignore_errors=True)


def build_image(
    client: docker.DockerClient,
    base_tag: str,
    context_dir: Path,
    tag: str,
    *,
    labels: dict[str, str] | None = None,
) -> str:
    """Build `context_dir` as `tag`, unless `tag` already holds a build of exactly these inputs.

    The Dockerfile starts with `ARG BASE` and `FROM $BASE`; BASE is set to `base_tag`. `labels` are added to
    the image (and are inputs too).
    """
    context_dir = Path(context_dir)
    labels = dict(labels or {})
    digest = _context_digest(base_tag, context_dir, labels)
    try:
        previous = client.images.get(tag)
    except docker.errors.ImageNotFound:
        previous = None
    if previous is not None and (previous.labels or {}).get(INPUTS_LABEL) == digest:
        return tag
    image, _ = client.images.build(
        path=str(context_dir),
        tag=tag,
        rm=True,
        forcerm=True,
        pull=False,
        buildargs={"BASE": base_tag},
        labels={**labels, INPUTS_LABEL: digest},
    )
    if previous is not None and previous.id != image.id:
        # The old build is now untagged; keep the engine's disk from filling up across edits.
        try:
            client.images.remove(previous.id, noprune=False)
        except docker.errors.APIError:
            pass
    return tag


def debian_mirror() -> str:
    """The Debian mirror apt on this machine already uses, so debootstrap reaches what apt reaches."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = _deb822(stanza)
            if fields.get("types", "").split()[:1] == ["deb"] and _is_main_archive(fields):
                return fields["uris"].split()[0].rstrip("/")
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            words = [w for w in line.split() if not w.startswith("[")]
            if len(words) >= 3 and words[0] == "deb" and words[2] == BASE_RECIPE["suite"]:
                return words[1].rstrip("/")
    return DEFAULT_MIRROR


def _base_tarball(cache_dir: Path, digest: str) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    tarball = cache_dir / f"{BASE_REPOSITORY}-{digest}.tar"
    if tarball.is_file():
        return tarball
    ensure_installed("debootstrap", "debootstrap")
    work = Path(tempfile.mkdtemp(prefix=".rootfs-", dir=cache_dir))
    rootfs = work / "rootfs"
    try:
        _run(
            [
                "debootstrap",
                f"--variant={BASE_RECIPE['variant']}",
                f"--include={','.join(BASE_RECIPE['include'])}",
                BASE_RECIPE["suite"],
                str(rootfs),
                debian_mirror(),
            ]
        )
        for relative in TRIMMED:
            _remove_files_in(rootfs / relative)
        partial = work / "rootfs.tar"
        _run(["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(partial), "."])
        # Rename last: a concurrent or interrupted run never sees half a tarball under the final name.
        os.replace(partial, tarball)
    finally:
        # debootstrap mounts /proc and /sys in the target; one that failed midway may leave them mounted,
        # and removing the tree must not wander into them.
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    return tarball


def _context_digest(base_tag: str, context_dir: Path, labels: dict[str, str]) -> str:
    h = hashlib.sha256()
    h.update(base_tag.encode() + b"\0")
    h.update(json.dumps(labels, sort_keys=True).encode() + b"\0")
    for path in sorted(p for p in context_dir.rglob("*") if p.is_file() or p.is_symlink()):
        relative = path.relative_to(context_dir).as_posix()
        h.update(relative.encode() + b"\0")
        h.update(oct(path.lstat().st_mode).encode() + b"\0")
        h.update((os.readlink(path).encode() if path.is_symlink() else path.read_bytes()) + b"\0")
    return h.hexdigest()[:16]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _raise_on_stream_error(answer: str, what: str) -> None:
    # The engine reports import failures inside a 200 response, as JSON lines.
    for line in answer.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("error"):
            raise RuntimeError(f"{what} failed: {message['error']}")


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[:1].isspace():
            continue
        key, value = line.split(":", 1)
        fields[key.strip().lower()] = value.strip()
    return fields


def _is_main_archive(fields: dict[str, str]) -> bool:
    return BASE_RECIPE["suite"] in fields.get("suites", "").split() and "uris" in fields


def _remove_files_in(path: Path) -> None:
    # Subdirectories such as `partial/` stay: apt expects them.
    if not path.is_dir():
        return
    for child in path.iterdir():
        if child.is_file() or child.is_symlink():
            child.unlink()


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}):\n{output[-3000:]}")
