"""Our rendered `openclaw.json` is one the pinned OpenClaw accepts: `openclaw config validate`, with the yourclaw
plugin installed (so `channels.yourclaw` is checked against the plugin's schema), for each model users can
pick, with and without MCP servers, with the user's time zone and waking hours. Any error or warning fails."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.harness.openclaw_toolchain import install_plugin, pinned_toolchain, run
from yourclaw.llm import catalog
from yourclaw.runtime import openclaw_config

# The first test may install the pinned OpenClaw from npm (several minutes on a cold machine).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

USER = uuid.UUID("00000000-0000-4000-8000-000000000001")
TOKEN = "yca_" + "A" * 43
GOOGLE = ("GOOGLE_CALENDAR", "GOOGLE_DRIVE", "GOOGLE_GMAIL")


@pytest.fixture(scope="module")
def openclaw(tmp_path_factory):
    chain = pinned_toolchain()
    state = tmp_path_factory.mktemp("openclaw-state")
    install_plugin(chain, state)
    return chain, state


def _validate(openclaw, tmp_path: Path, config: dict) -> dict:
    chain, state = openclaw
    path = tmp_path / "openclaw.json"
    path.write_text(json.dumps(config))
    done = run(chain, state, "config", "validate", "--json", config=path)
    start = done.stdout.find("{")
    assert start != -1, f"no JSON from openclaw config validate:\n{done.stdout}\n{done.stderr}"
    result, _ = json.JSONDecoder().raw_decode(done.stdout[start:])
    # Plugin/doctor diagnostics go to stderr even when the config is valid: they count as warnings too.
    noise = [line for line in done.stderr.splitlines() if line.strip()]
    return {**result, "stderr": noise}


@pytest.mark.parametrize("model", [m.id for m in catalog.MODELS])
@pytest.mark.parametrize("with_mcp", [False, True], ids=["no-mcp", "mcp"])
@pytest.mark.parametrize("senses", [False, True], ids=["no-senses", "senses"])
def test_rendered_config_is_valid(openclaw, tmp_path, model, with_mcp, senses):
    config = openclaw_config.render(
        user_id=USER,
        model=model,
        token=TOKEN,
        api_url="http://10.99.0.1:8000",
        generation=3,
        # Every optional key present: the user's time zone and their waking hours.
        timezone="Europe/Paris",
        active_hours=openclaw_config.ActiveHours("08:00", "22:00"),
        google_services=GOOGLE if with_mcp else (),
        # Web search and voice notes through the control plane (a search and a transcription key set).
        search=senses,
        transcription=senses,
    )
    assert config["channels"]["yourclaw"]["userId"] == str(USER)
    assert config["tools"]["web"]["search"]["enabled"] is senses
    result = _validate(openclaw, tmp_path, config)
    assert result.get("valid") is True, result
    assert result.get("warnings") == [], result["warnings"]
    assert result["stderr"] == [], result["stderr"]


def test_a_bad_channel_section_is_refused(openclaw, tmp_path):
    """The check has teeth: the plugin's schema is applied to channels.yourclaw."""
    config = openclaw_config.render(
        user_id=USER, model=catalog.DEFAULT_MODEL, token=TOKEN, api_url="http://x:1", generation=1
    )
    config["channels"]["yourclaw"]["generation"] = "one"
    result = _validate(openclaw, tmp_path, config)
    assert result.get("valid") is False
    assert any(issue["path"].startswith("channels.yourclaw") for issue in result["issues"]), result


def test_offered_models_are_current_in_the_pinned_catalog(openclaw):
    """No retired or unknown id is offered: each is listed, and not deprecated, by the pinned anthropic plugin."""
    chain, _ = openclaw
    manifest = chain.root / "node_modules" / "openclaw" / "dist" / "extensions" / "anthropic" / "openclaw.plugin.json"
    listed = json.loads(manifest.read_text())["modelCatalog"]["providers"]["anthropic"]["models"]
    current = {f"anthropic/{m['id']}" for m in listed if m.get("status") not in ("deprecated", "retired")}
    assert {m.id for m in catalog.MODELS} <= current
