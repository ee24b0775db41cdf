"""The image definition, checked without building it: the registry Dockerfile (linted here, built on hosts
that can pull) and the offline one must give the same image contract."""

from __future__ import annotations

import json
import re

import pytest

from tests.harness.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit

IMAGE = PROJECT_ROOT / "infra" / "image"
MARK = "# ---- image contract"


def _versions() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (IMAGE / "versions.env").read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.startswith("#")}


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_both_dockerfiles_share_the_image_contract():
    registry, offline = ((IMAGE / name).read_text() for name in ("Dockerfile", "Dockerfile.offline"))
    assert registry[registry.index(MARK) :] == offline[offline.index(MARK) :]


def test_the_registry_dockerfile_pins_and_locks_down():
    text = (IMAGE / "Dockerfile").read_text()
    steps = _instructions(text)
    args = {body.split("=", 1)[0]: body.split("=", 1)[1] for kind, body in steps if kind == "ARG" and "=" in body}
    assert args["NODE_VERSION"] == _versions()["NODE_VERSION"]
    assert args["OPENCLAW_VERSION"] == _versions()["OPENCLAW_VERSION"]
    assert any(kind == "FROM" and body == "node:${NODE_VERSION}-bookworm-slim" for kind, body in steps)
    assert '"openclaw@${OPENCLAW_VERSION}"' in text and "--save-exact" in text
    assert "chromium" in text and "tini" in text
    users = [body for kind, body in steps if kind == "USER"]
    assert users and users[-1] == "1000:1000"
    env = " ".join(body for kind, body in steps if kind == "ENV")
    assert "OPENCLAW_NO_AUTO_UPDATE=1" in env and "OPENCLAW_STATE_DIR=/home/node/.openclaw" in env
    assert ("VOLUME", '["/home/node/.openclaw"]') in steps
    assert not any(kind == "EXPOSE" for kind, _ in steps)  # the assistant dials out
    assert any(kind == "ENTRYPOINT" and "tini" in body for kind, body in steps)
    healthcheck = next(body for kind, body in steps if kind == "HEALTHCHECK")
    assert "/readyz" in healthcheck and "ready===true" in healthcheck.replace(" ", "")
    install = next(body for kind, body in steps if kind == "RUN" and "plugins install" in body)
    assert "--force" in install and "--accept-capabilities" in install
    assert not re.search(r"(?i)(api[_-]?key|secret|token)\s*=", text)


def test_the_plugin_manifest_matches_its_package():
    plugin = IMAGE / "plugin"
    manifest = json.loads((plugin / "openclaw.plugin.json").read_text())
    package = json.loads((plugin / "package.json").read_text())
    assert manifest["id"] == "yourclaw" and manifest["channels"] == ["yourclaw"]
    assert package["type"] == "module" and package["openclaw"]["extensions"] == ["./index.js"]
    assert package["openclaw"]["channel"]["id"] == "yourclaw"
    schema = manifest["channelConfigs"]["yourclaw"]["schema"]
    assert set(schema["required"]) == {"apiUrl", "token", "userId", "generation"}
    assert schema["additionalProperties"] is False


def test_the_gateway_starts_with_the_step_that_leaves_an_idle_heartbeat_nothing_to_check():
    steps = _instructions((IMAGE / "Dockerfile").read_text())
    (command,) = [json.loads(body) for kind, body in steps if kind == "CMD"]
    assert command == ["/bin/sh", "/opt/yourclaw/start/start.sh"]
    copied = " ".join(body for kind, body in steps if kind == "COPY")
    assert "start/start.sh" in copied and "start/heartbeat-checklist.mjs" in copied
    script = (IMAGE / "start" / "start.sh").read_text()
    # Detached (tini reaps it) and the gateway in the shell's place, so signals reach it.
    assert "( node /opt/yourclaw/start/heartbeat-checklist.mjs & )" in script
    assert script.rstrip().endswith("exec openclaw gateway --port 18789")
    seeder = (IMAGE / "start" / "heartbeat-checklist.mjs").read_text()
    # Only where there is no checklist yet: what the agent or the user wrote is kept.
    assert '"--expected-revision", "0"' in seeder
    build = (IMAGE / "build.sh").read_text()
    assert "plugin/src start -type f" in build and 'cp -r "$HERE/start"' in build
