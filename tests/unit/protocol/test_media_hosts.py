"""Inbound media are fetched, with our Twilio credentials, only from Twilio's hosts (TWILIO_MEDIA_HOSTS and
their subdomains) and from whatever TWILIO_API_BASE_URL points at (the stand-in in tests and dev)."""

from __future__ import annotations

import pytest

from tests.harness.settings import make_settings
from yourclaw.protocol.inbound_media import media_host_allowed

pytestmark = pytest.mark.unit

DB = "postgresql://u:p@127.0.0.1:5432/db"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", True),
        ("https://API.Twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", True),
        ("https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", True),
        ("https://twilio.com.evil.example/Media/ME1", False),
        ("https://eviltwilio.com/Media/ME1", False),
        ("https://api.twilio.com@evil.example/Media/ME1", False),
        ("http://127.0.0.1:8080/Media/ME1", False),
        ("http://169.254.169.254/latest/meta-data/", False),
        ("http://[::1]:80/Media", False),
        ("https:///Media/ME1", False),
        ("http://[bad", False),
    ],
)
def test_only_twilios_hosts_by_default(url, allowed):
    assert media_host_allowed(make_settings(DB), url) is allowed


def test_the_configured_twilio_api_and_listed_hosts_are_allowed():
    settings = make_settings(
        DB, TWILIO_API_BASE_URL="http://127.0.0.1:4010", TWILIO_MEDIA_HOSTS="media.example, twilio.com"
    )
    assert media_host_allowed(settings, "http://127.0.0.1:4010/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1")
    assert media_host_allowed(settings, "https://cdn.media.example/x")
    assert media_host_allowed(settings, "https://api.twilio.com/x")
    assert not media_host_allowed(settings, "http://localhost:4010/x")
