"""The rendered openclaw.json: its shape (what the pinned OpenClaw accepts is checked by
tests/e2e/runtime/test_openclaw_config.py) and the hash the reconciler compares."""

from __future__ import annotations

import uuid

import pytest

from yourclaw.runtime import openclaw_config

pytestmark = pytest.mark.unit

USER = uuid.UUID("00000000-0000-4000-8000-000000000007")


def _render(**overrides):
    args = dict(
        user_id=USER, model="anthropic/claude-sonnet-5", token="yca_t", api_url="http://10.0.0.1:8000/", generation=4
    )
    return openclaw_config.render(**{**args, **overrides})


def test_the_assistant_talks_only_through_yourclaw_and_the_metering_proxy():
    config = _render()
    assert list(config["channels"]) == ["yourclaw"]
    assert config["channels"]["yourclaw"] == {
        "apiUrl": "http://10.0.0.1:8000",
        "token": "yca_t",
        "userId": str(USER),
        "generation": 4,
    }
    assert config["models"]["providers"]["anthropic"] == {
        "baseUrl": "http://10.0.0.1:8000/llm/anthropic",
        "api": "anthropic-messages",
        "apiKey": "yca_t",
    }
    assert config["gateway"]["http"]["endpoints"]["chatCompletions"]["enabled"] is False
    assert config["gateway"]["controlUi"]["enabled"] is False
    assert config["gateway"]["auth"]["token"] not in ("yca_t", "")


def test_proactive_output_is_routed_to_the_one_user():
    config = _render()
    assert config["commands"]["ownerAllowFrom"] == [f"yourclaw:{USER}"]
    assert config["agents"]["defaults"]["heartbeat"]["target"] == "owner"
    assert config["cron"]["enabled"] is True


def test_the_spec_intent_is_kept_with_current_keys():
    config = _render()
    defaults = config["agents"]["defaults"]
    assert config["tools"]["profile"] == "full"
    assert config["tools"]["web"] == {"search": {"enabled": True}, "fetch": {"enabled": True}}
    assert config["tools"]["media"]["image"]["enabled"] is True
    assert config["browser"] | {"headless": True, "noSandbox": True} == config["browser"]
    assert defaults["compaction"]["memoryFlush"]["enabled"] is True
    assert defaults["contextPruning"]["mode"] in ("off", "cache-ttl")
    assert "contextTokens" not in defaults and "mcpServers" not in config
    assert {"anthropic", "yourclaw"} <= set(config["plugins"]["allow"])


def test_mcp_servers_go_under_mcp_servers():
    config = _render(integrations=(openclaw_config.Integration("gh", "npx", ("-y", "gh-mcp"), (("T", "x"),)),))
    assert config["mcp"] == {"servers": {"gh": {"command": "npx", "args": ["-y", "gh-mcp"], "env": {"T": "x"}}}}
    assert "mcp" not in _render()


def test_a_retired_model_renders_its_successor():
    assert (
        _render(model="anthropic/claude-opus-4-6")["agents"]["defaults"]["model"]["primary"]
        == "anthropic/claude-opus-5"
    )


def test_the_hash_ignores_the_generation_but_not_the_token():
    assert openclaw_config.config_hash(_render(generation=1)) == openclaw_config.config_hash(_render(generation=9))
    assert openclaw_config.config_hash(_render()) != openclaw_config.config_hash(_render(token="yca_u"))
