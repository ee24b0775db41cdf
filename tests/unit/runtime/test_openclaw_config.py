"""The rendered openclaw.json: its shape (what the pinned OpenClaw accepts is checked by
tests/e2e/runtime/test_openclaw_config.py) and the hash the reconciler compares."""

from __future__ import annotations

import uuid

import pytest

from yourclaw.llm import catalog, purposes
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
    anthropic = config["models"]["providers"]["anthropic"]
    assert {k: v for k, v in anthropic.items() if k != "models"} == {
        "baseUrl": "http://10.0.0.1:8000/llm/anthropic",
        "api": "anthropic-messages",
        "apiKey": "yca_t",
    }
    for provider in config["models"]["providers"].values():
        assert provider["baseUrl"].startswith("http://10.0.0.1:8000/llm/anthropic") and provider["apiKey"] == "yca_t"
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
    assert config["tools"]["web"]["fetch"] == {"enabled": True}
    assert config["tools"]["media"]["image"]["enabled"] is True
    assert config["browser"] | {"headless": True, "noSandbox": True} == config["browser"]
    assert defaults["compaction"]["memoryFlush"]["enabled"] is True
    assert defaults["contextPruning"]["mode"] in ("off", "cache-ttl")
    assert "contextTokens" not in defaults and "mcpServers" not in config
    assert {"anthropic", "yourclaw"} <= set(config["plugins"]["allow"])


def test_without_a_search_key_search_is_off_rather_than_broken():
    config = _render()
    assert config["tools"]["web"]["search"] == {"enabled": False}
    assert "brave" not in config["plugins"]["allow"] and "brave" not in config["plugins"]["entries"]


def test_search_goes_through_the_control_planes_proxy_with_the_assistant_token():
    config = _render(search=True)
    assert config["tools"]["web"]["search"]["enabled"] is True
    assert config["tools"]["web"]["search"]["provider"] == "brave"
    assert "brave" in config["plugins"]["allow"]
    web_search = config["plugins"]["entries"]["brave"]["config"]["webSearch"]
    # The provider's "API key" is the assistant's own token: no search key ever enters a container.
    assert web_search == {"apiKey": "yca_t", "baseUrl": "http://10.0.0.1:8000/search/brave"}


def test_voice_notes_are_transcribed_through_the_control_planes_proxy_with_the_assistant_token():
    config = _render(transcription=True)
    media = config["tools"]["media"]
    assert media["audio"] == {"enabled": True}
    assert media["models"] == [
        {
            "provider": "openai",
            "model": "whisper-1",
            "baseUrl": "http://10.0.0.1:8000/transcribe/v1",
            "capabilities": ["audio"],
        }
    ]
    assert config["models"]["providers"]["openai"] == {
        "baseUrl": "http://10.0.0.1:8000/transcribe/v1",
        "apiKey": "yca_t",
        "models": [],
        # The control plane is on a private address, which OpenClaw's SSRF guard refuses to media providers.
        "request": {"allowPrivateNetwork": True},
    }
    assert "openai" in config["plugins"]["allow"]
    assert not any(model.startswith("openai/") for model in config["agents"]["defaults"]["models"])
    # Nor do memory embeddings: OpenClaw's default (OpenAI's) would post them to the transcription proxy.
    assert config["memory"] == {"search": {"provider": "none"}}


def test_without_a_transcription_key_audio_is_off_and_the_agent_says_it_cannot_listen():
    config = _render()
    assert config["tools"]["media"]["audio"] == {"enabled": False}
    assert "openai" not in config["models"]["providers"] and "openai" not in config["plugins"]["allow"]
    deaf = openclaw_config.merge_instructions(None, voice_notes=False)
    assert "cannot listen to voice notes yet" in deaf
    assert "voice note" not in openclaw_config.merge_instructions(None, voice_notes=True)


def test_connected_google_services_name_our_mcp_server_with_the_assistant_token_only():
    config = _render(google_services=("GOOGLE_GMAIL", "GOOGLE_CALENDAR"))
    server = config["mcp"]["servers"]["google"]
    assert server["url"].endswith("/mcp/google") and server["transport"] == "streamable-http"
    assert server["headers"]["Authorization"] == "Bearer " + config["channels"]["yourclaw"]["token"]
    assert server["headers"]["X-YourClaw-Services"] == "GOOGLE_CALENDAR,GOOGLE_GMAIL"
    assert "mcp" not in _render()
    # Connecting or disconnecting changes the config, so OpenClaw reloads it and lists the tools again.
    assert openclaw_config.config_hash(config) != openclaw_config.config_hash(
        _render(google_services=("GOOGLE_CALENDAR",))
    )


def test_a_retired_model_renders_its_successor():
    assert (
        _render(model="anthropic/claude-opus-4-6")["agents"]["defaults"]["model"]["primary"]
        == "anthropic/claude-opus-5"
    )


def test_the_hash_ignores_the_generation_but_not_the_token():
    assert openclaw_config.config_hash(_render(generation=1)) == openclaw_config.config_hash(_render(generation=9))
    assert openclaw_config.config_hash(_render()) != openclaw_config.config_hash(_render(token="yca_u"))


# --- what an idle assistant costs ------------------------------------------------------------------------


def _background_refs(config: dict) -> dict[str, str]:
    """Every model the config names for OpenClaw's own work, by what names it."""
    defaults = config["agents"]["defaults"]
    memory_core = config["plugins"]["entries"]["memory-core"]
    return {
        "heartbeat": defaults["heartbeat"]["model"],
        "compaction": defaults["compaction"]["model"],
        "memory flush": defaults["compaction"]["memoryFlush"]["model"],
        "dreaming": memory_core["config"]["dreaming"]["model"],
    }


@pytest.mark.parametrize("model", [m.id for m in catalog.MODELS])
def test_background_work_runs_on_the_cheapest_model_through_its_purposes_route(model):
    config = _render(model=model)
    providers = config["models"]["providers"]
    expected = {"heartbeat": "heartbeat", "compaction": "memory", "memory flush": "memory", "dreaming": "memory"}
    for what, ref in _background_refs(config).items():
        provider_id, upstream = ref.split("/", 1)
        assert f"anthropic/{upstream}" == catalog.BACKGROUND_MODEL, what
        provider = providers[provider_id]
        purpose = provider["baseUrl"].rsplit("/bg/", 1)[1]
        assert purpose == expected[what] and purpose in purposes.BACKGROUND, what
        (row,) = provider["models"]
        assert row["id"] == upstream and row["maxTokens"] <= 8192
        # Whatever the user's model, the worst case of a background call stays a few cents.
        assert catalog.cost_millicents(upstream, input_tokens=0, output_tokens=row["maxTokens"]) <= 3_000
        # A model missing from the agent's list is not run: the call would fall back to the user's model.
        assert ref in config["agents"]["defaults"]["models"], what
    assert config["plugins"]["entries"]["memory-core"]["subagent"]["allowedModels"] == [
        _background_refs(config)["dreaming"]
    ]


def test_heartbeats_are_light_isolated_hourly_and_keep_to_the_users_waking_hours():
    hours = openclaw_config.ActiveHours("08:00", "22:00")
    heartbeat = _render(timezone="Asia/Tokyo", active_hours=hours)["agents"]["defaults"]["heartbeat"]
    assert heartbeat["isolatedSession"] is True and heartbeat["lightContext"] is True
    assert heartbeat["every"] == "1h" and heartbeat["target"] == "owner"
    assert heartbeat["activeHours"] == {"start": "08:00", "end": "22:00", "timezone": "Asia/Tokyo"}
    # An unknown zone is the one the sender assumes too.
    assert _render(active_hours=hours)["agents"]["defaults"]["heartbeat"]["activeHours"]["timezone"] == "UTC"
    assert "activeHours" not in _render()["agents"]["defaults"]["heartbeat"]


def test_the_extras_that_only_serve_openclaws_own_ui_are_off():
    config = _render()
    assert config["agents"]["defaults"]["utilityModel"] == ""
    assert config["skills"]["workshop"]["autonomous"]["mode"] == "off"
    assert config["models"]["catalogRefresh"]["enabled"] is False


@pytest.mark.parametrize("model", [m.id for m in catalog.MODELS])
def test_a_turn_reserves_a_bounded_worst_case(model):
    config = _render(model=model)
    upstream = model.split("/", 1)[1]
    max_tokens = config["agents"]["defaults"]["models"][model]["params"]["maxTokens"]
    assert 16_000 <= max_tokens <= catalog.limits_for(upstream).max_output
    # OpenClaw would ask 128,000 of the 5-series: $1.28 held per Sonnet call, $3.20 per Opus call.
    assert catalog.cost_millicents(upstream, input_tokens=0, output_tokens=max_tokens) <= 80_000
    rows = {row["id"]: row for row in config["models"]["providers"]["anthropic"].get("models", [])}
    if catalog.limits_for(upstream).context_window > 200_000:
        assert rows[upstream]["contextTokens"] == 200_000
    else:
        assert upstream not in rows


def test_the_users_time_zone_sets_the_agents_clock_and_changes_the_hash():
    config = _render(timezone="Europe/Paris")
    assert config["agents"]["defaults"]["userTimezone"] == "Europe/Paris"
    assert config["plugins"]["entries"]["memory-core"]["config"]["dreaming"]["timezone"] == "Europe/Paris"
    assert "userTimezone" not in _render()["agents"]["defaults"]
    hashes = {
        openclaw_config.config_hash(c)
        for c in (_render(), config, _render(active_hours=openclaw_config.ActiveHours("07:00", "23:00")))
    }
    assert len(hashes) == 3


def test_the_agent_is_told_to_watch_things_with_automations():
    text = openclaw_config.WHATSAPP_INSTRUCTIONS
    # OpenClaw 2026.9.6 names its scheduler tool `automations` (`cron` on the command line).
    assert "automations tool" in text and "heartbeat" in text
