"""The end-to-end stack, shared by tests/e2e (as fixtures) and bench/openclaw_e2e.py: a Docker engine of its own
behind mutual TLS (its data root outlives the run, so the image built on it does too), the real
yourclaw-openclaw image built there with `infra/image/build.sh offline` plus a second tag for the upgrade
step, the managed network, and a whole control plane around it: the app on a real port (also on the network's
gateway, where containers reach it), the real reconciler, router and sender, and the Twilio, Stripe and
Anthropic standins spoken to by the real SDKs and our proxy."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, closing, contextmanager
from pathlib import Path

import docker
import docker.errors

from tests.harness.dockerd import CACHE_DIR, TlsDockerd
from tests.harness.journey_support import SHARED_KEY, USAGE, ControlPlane, OpenClawEngine, TimedAnthropicStandin
from tests.harness.live_server import LiveServer
from tests.harness.networks import ensure_network, managed_subnet, remove_network
from tests.harness.ports import free_port
from tests.harness.settings import make_settings
from yourclaw.billing.controller import WEBHOOK_PATH
from yourclaw.db.engine import make_engine, make_sessionmaker, transaction
from yourclaw.db.models import HostServer
from yourclaw.kit.crypto import SecretBox
from yourclaw.messaging.inbound.router import run_router
from yourclaw.messaging.outbound.sender import run_sender
from yourclaw.runtime.certs import init_ca
from yourclaw.runtime.container_spec import LABEL_MANAGED
from yourclaw.runtime.hosts import host_factory
from yourclaw.runtime.reconciler import Reconciler
from yourclaw.standins.google import GoogleStandin
from yourclaw.standins.stripe import StripeStandin
from yourclaw.standins.twilio import TwilioStandin

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "infra" / "image" / "build.sh"
# Apart from tests/engine (23761-2) and bench/reconcile.py (23781-2): they may run beside this one.
ENGINE_NAME, ENGINE_PORT = "yc-oc", 23771
UPGRADE_TAG = "yourclaw-openclaw:e2e-upgrade"
BUILD_TIMEOUT = 3600  # a cold build makes a root filesystem with debootstrap and installs OpenClaw from npm
TEMPLATE_SID = "HX" + "2" * 32


class ImageUnavailable(RuntimeError):
    """The pinned OpenClaw could not be installed from npm (no registry reachable)."""


@contextmanager
def openclaw_engine_stack() -> Iterator[OpenClawEngine]:
    # Not pytest's tmp_path: pytest prunes old base temp dirs, including ones a concurrent session reads.
    workdir = Path(tempfile.mkdtemp(prefix="yourclaw-e2e-engine-"))
    tls_dir = workdir / "tls"
    init_ca(tls_dir)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        engine = stack.enter_context(TlsDockerd(ENGINE_NAME, ENGINE_PORT, tls_dir, CACHE_DIR / ENGINE_NAME))
        client = stack.enter_context(closing(engine.client(timeout=600)))
        _remove_leftovers(client)
        socket_url = f"unix://{engine.workdir / 'docker.sock'}"
        image = _build_image(socket_url)
        upgrade = _upgrade_image(client, image)
        subnet = managed_subnet(engine)
        gateway = str(next(subnet.hosts()))
        network = ensure_network(client, subnet, gateway)
        stack.callback(remove_network, network)
        # Last in, first out: what the run left is removed while the engine still runs.
        stack.callback(_remove_leftovers, client)
        yield OpenClawEngine(tls_dir, engine, socket_url, client, image, upgrade, gateway)


def _remove_leftovers(client: docker.DockerClient) -> None:
    """This engine exists only for this test: any container or managed volume in it was left by a run."""
    for container in client.containers.list(all=True, sparse=True):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    for volume in client.volumes.list(filters={"label": f"{LABEL_MANAGED}=true"}):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)


def _build_image(socket_url: str) -> str:
    """`build.sh offline` against this engine: a no-op re-tag when the engine already holds a build of the
    same inputs. Returns the versioned tag (what production pins)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT")}
    env["DOCKER_HOST"] = socket_url
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "offline"], env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    if done.returncode != 0:
        tail = "\n".join((done.stderr + done.stdout).strip().splitlines()[-30:])
        if "toolchain unavailable" in tail:
            raise ImageUnavailable(tail)
        raise RuntimeError(f"infra/image/build.sh offline failed ({done.returncode}):\n{tail}")
    version = next(
        line.split("=", 1)[1].strip()
        for line in (BUILD_SCRIPT.parent / "versions.env").read_text().splitlines()
        if line.startswith("OPENCLAW_VERSION=")
    )
    return f"yourclaw-openclaw:{version}"


def _upgrade_image(client: docker.DockerClient, image: str) -> str:
    """The same image under another tag, with a label that makes its id differ: an upgrade, as far as the
    control plane can tell (container-spec hash and image id both change)."""
    base_id = client.images.get(image).id
    dockerfile = f"FROM {image}\nLABEL yourclaw.e2e.upgrade-of={base_id}\n"
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=UPGRADE_TAG, rm=True, forcerm=True)
    if client.images.get(UPGRADE_TAG).id == base_id:
        raise RuntimeError(f"{UPGRADE_TAG} has the id of {image}")
    return UPGRADE_TAG


@asynccontextmanager
async def control_plane_stack(
    openclaw_engine: OpenClawEngine,
    database_url: str,
    sessions,
    state_dir: Path,
    llm: TimedAnthropicStandin | None = None,
    extra_settings: dict[str, str] | None = None,
    *,
    warm_pool: int = 0,
) -> AsyncIterator[ControlPlane]:
    """The control plane on `database_url` (migrated, with no host of this engine yet); the caller empties the
    tables afterwards. `llm` is the model behind the proxy (default: one reporting the same usage for every
    call). `extra_settings` are added to the control plane's (stand-ins for search or transcription, say)."""
    port = free_port()
    twilio, stripe, google = TwilioStandin(), StripeStandin(), GoogleStandin()
    llm = llm or TimedAnthropicStandin(usage=dict(USAGE))
    twilio.start()
    stripe.start()
    google.start()
    llm.start()
    api_url = f"http://127.0.0.1:{port}"
    stripe.webhook_url = api_url + WEBHOOK_PATH
    settings = make_settings(
        database_url,
        API_URL=api_url,
        APP_URL=api_url,
        DOCKER_TLS_DIR=str(openclaw_engine.tls_dir),
        ASSISTANT_IMAGE=openclaw_engine.image,
        YOURCLAW_STATE_DIR=str(state_dir),
        RECONCILE_INTERVAL="1",
        CONTAINER_MEMORY="2g",
        CONTAINER_CPUS="1",
        PROVISION_TIMEOUT_SECONDS="300",
        TWILIO_ACCOUNT_SID=twilio.account_sid,
        TWILIO_AUTH_TOKEN=twilio.auth_token,
        TWILIO_API_BASE_URL=twilio.base_url,
        TWILIO_TEMPLATE_CONTENT_SID=TEMPLATE_SID,
        TWILIO_TEMPLATE_VARIABLES='{"1": "You have a message waiting"}',
        STRIPE_API_BASE_URL=stripe.base_url,
        STRIPE_SECRET_KEY=stripe.api_key,
        STRIPE_WEBHOOK_SECRET=stripe.webhook_secret,
        STRIPE_PRICE_ID=stripe.price_id,
        GOOGLE_CLIENT_ID=google.client_id,
        GOOGLE_CLIENT_SECRET=google.client_secret,
        GOOGLE_AUTH_BASE_URL=google.base_url,
        GOOGLE_TOKEN_BASE_URL=google.base_url,
        GOOGLE_API_BASE_URL=google.base_url,
        ANTHROPIC_BASE_URL=llm.base_url,
        ANTHROPIC_API_KEY=SHARED_KEY,
        # The scheduled job's message must go out whatever the hour of the run.
        QUIET_HOURS="off",
        RATE_LIMIT_MSG_PER_MIN="30",
        WORKER_POLL_INTERVAL="0.5",
        **(extra_settings or {}),
        WARM_POOL_SIZE=str(warm_pool),
    )
    async with transaction(sessions) as session:
        host = HostServer(
            name=openclaw_engine.engine.name,
            docker_url=openclaw_engine.engine.docker_url,
            max_containers=5,
            runtime_api_url=f"http://{openclaw_engine.gateway}:{port}",
        )
        session.add(host)
    # The background jobs get a pool of their own, as `yourclaw worker` and `yourclaw reconcile` would.
    jobs_engine = make_engine(database_url, pool_size=8)
    jobs_sessions = make_sessionmaker(jobs_engine)
    secrets = SecretBox(settings.fernet_keys)
    reconciler = Reconciler(settings, jobs_sessions, secrets, host_factory(settings))
    stop = asyncio.Event()
    try:
        async with LiveServer(settings, port=port, extra_hosts=(openclaw_engine.gateway,)) as server:
            tasks = [
                asyncio.create_task(reconciler.run(stop)),
                asyncio.create_task(run_router(settings, jobs_sessions, secrets, stop)),
                asyncio.create_task(run_sender(settings, jobs_sessions, secrets, stop)),
            ]
            try:
                yield ControlPlane(
                    settings, server.url, sessions, reconciler, openclaw_engine, twilio, stripe, llm, google
                )
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    finally:
        _remove_leftovers(openclaw_engine.client)
        await jobs_engine.dispose()
        for standin in (twilio, stripe, llm, google):
            standin.stop()
