"""Settings: typed, from the environment, one clear line naming a bad variable."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from yourclaw.kit.settings import SettingsError, load_settings, normalize_database_url

pytestmark = pytest.mark.unit
KEY = Fernet.generate_key().decode()
BASE = {"ENCRYPTION_KEY": KEY, "DEV_JWT_SECRET": "s" * 40}


def test_defaults_and_types():
    settings = load_settings({**BASE, "RATE_LIMIT_MSG_PER_MIN": "7", "MOCK_TWILIO": "true", "MOCK_STRIPE": "0"})
    assert settings.rate_limit_msg_per_min == 7
    assert settings.mock_twilio is True and settings.mock_stripe is False
    assert settings.yourclaw_env == "production"
    assert settings.assistant_api_url == settings.api_url
    assert (settings.outbound_parts_daily_cap, settings.reply_window_seconds) == (200, 3600)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"ENCRYPTION_KEY": ""}, "ENCRYPTION_KEY"),
        ({"ENCRYPTION_KEY": "not-a-key"}, "ENCRYPTION_KEY"),
        ({"ENCRYPTION_KEY": f"{KEY},broken"}, "ENCRYPTION_KEY"),
        ({"RATE_LIMIT_MSG_PER_MIN": "five"}, "RATE_LIMIT_MSG_PER_MIN"),
        ({"RATE_LIMIT_MSG_PER_DAY": "0"}, "RATE_LIMIT_MSG_PER_DAY"),
        ({"OUTBOUND_PARTS_DAILY_CAP": "0"}, "OUTBOUND_PARTS_DAILY_CAP"),
        ({"OUTBOUND_PARTS_DAILY_CAP": "lots"}, "OUTBOUND_PARTS_DAILY_CAP"),
        ({"REPLY_WINDOW_SECONDS": "-1"}, "REPLY_WINDOW_SECONDS"),
        ({"MOCK_TWILIO": "maybe"}, "MOCK_TWILIO"),
        ({"API_URL": "api.yourclaw.com"}, "API_URL"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"YOURCLAW_ENV": "staging"}, "YOURCLAW_ENV"),
        ({"DEV_JWT_SECRET": ""}, "DEV_JWT_SECRET"),
    ],
)
def test_bad_settings_name_the_variable_in_one_line(env, names):
    with pytest.raises(SettingsError) as info:
        load_settings({**BASE, **env})
    message = str(info.value)
    assert message.startswith(names + ":")
    assert "\n" not in message


def test_secret_values_never_appear_in_errors():
    with pytest.raises(SettingsError) as info:
        load_settings({**BASE, "ENCRYPTION_KEY": "super-secret-value"})
    assert "super-secret-value" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql+asyncpg://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_url_forms(url, expected):
    assert normalize_database_url(url) == expected


def test_supabase_settings_turn_dev_sign_in_off():
    settings = load_settings({"ENCRYPTION_KEY": KEY, "SUPABASE_URL": "https://abc.supabase.co"})
    assert not settings.dev_sign_in
    assert settings.jwks_url == "https://abc.supabase.co/auth/v1/.well-known/jwks.json"
    assert settings.jwt_issuer == "https://abc.supabase.co/auth/v1"


def test_dev_modes_are_listed():
    settings = load_settings({**BASE, "MOCK_CONTAINERS": "yes"})
    modes = settings.dev_modes()
    assert "MOCK_CONTAINERS" in modes
    assert any("dev sign-in" in m for m in modes) and any("embedded" in m for m in modes)
    real = load_settings(
        {"ENCRYPTION_KEY": KEY, "SUPABASE_URL": "https://abc.supabase.co", "DATABASE_URL": "postgresql://u@h/d"}
    )
    assert real.dev_modes() == []


def test_dotenv_is_read_under_the_environment(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        f"ENCRYPTION_KEY={KEY}\nDEV_JWT_SECRET=from-dotenv-secret\nRATE_LIMIT_MSG_PER_DAY=42\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RATE_LIMIT_MSG_PER_DAY", "43")
    settings = load_settings()
    assert settings.dev_jwt_secret == "from-dotenv-secret"
    assert settings.rate_limit_msg_per_day == 43


def test_env_example_documents_every_setting_and_loads(tmp_path, monkeypatch):
    import re

    from tests.harness.settings import PROJECT_ROOT
    from yourclaw.kit.settings import Settings

    text = (PROJECT_ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_]+)=", text, re.M))
    assert documented == {name.upper() for name in Settings.__struct_fields__}
    # A copied example with its one required secret filled in is a valid configuration.
    (tmp_path / ".env").write_text(text.replace("ENCRYPTION_KEY=\n", f"ENCRYPTION_KEY={KEY}\n"))
    monkeypatch.chdir(tmp_path)
    for name in documented:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEV_JWT_SECRET", "d" * 40)
    settings = load_settings()
    assert settings.twilio_whatsapp_number == "whatsapp:+14155238886"
    assert settings.rate_limit_msg_per_min == 5


def test_the_local_twilio_stand_ins_media_are_fetched_only_in_development():
    # `yourclaw dev`: the stand-in serves pictures from loopback, and the API never learns its port.
    dev = load_settings({**BASE, "MOCK_TWILIO": "yes", "YOURCLAW_ENV": "development"})
    assert "127.0.0.1" in dev.media_hosts and "twilio.com" in dev.media_hosts
    for env in ({**BASE, "MOCK_TWILIO": "yes", "YOURCLAW_ENV": "production"}, {**BASE, "YOURCLAW_ENV": "development"}):
        assert "127.0.0.1" not in load_settings(env).media_hosts
