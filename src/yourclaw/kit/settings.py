"""One typed settings object, read from the environment (and `.env` when present).

Names are the environment variable names, lower-cased. A missing or malformed value stops start-up with
one line naming the variable (`SettingsError`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
from cryptography.fernet import Fernet

MODELS_DEFAULT = "anthropic/claude-sonnet-5"  # = llm.catalog.DEFAULT_MODEL


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    yourclaw_env: str = "production"
    yourclaw_state_dir: str = ".yourclaw"
    log_level: str = "INFO"

    database_url: str | None = None
    db_pool_size: int = 20

    supabase_url: str | None = None
    supabase_anon_key: str | None = None
    supabase_service_role_key: str | None = None
    supabase_jwt_secret: str | None = None
    supabase_user_recheck_seconds: int = 300
    dev_jwt_secret: str | None = None
    jwks_max_stale_seconds: int = 6 * 3600
    # Dev sign-in's tokens, which the browser exchanges for its session cookie at once.
    dev_token_ttl_seconds: int = 3600

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_whatsapp_number: str = "whatsapp:+14155238886"
    twilio_api_base_url: str | None = None
    twilio_template_content_sid: str | None = None
    twilio_template_variables: str | None = None
    # The id of the template's quick-reply button ("Show me"): Twilio posts it as ButtonPayload when tapped.
    # The tap releases what is held (any message from the user does) and is not a question for the assistant.
    twilio_template_button_payload: str = "yourclaw-show-held"
    # Hosts (with their subdomains) inbound media is fetched from, with our Twilio credentials.
    twilio_media_hosts: str = "twilio.com"
    # WhatsApp's "typing…" while a turn runs: shown when a message is handed out, shown again while the lease
    # is renewed once this long has passed (Twilio's indicator lasts up to 25 s).
    typing_indicator: bool = True
    typing_renew_seconds: int = 20

    proactive_daily_cap: int = 20
    # WhatsApp messages (parts of long texts, templates) a user may be sent per day, of every kind.
    outbound_parts_daily_cap: int = 200
    # How long after a message is handed to the assistant its answers count as replies to it.
    reply_window_seconds: int = 3600
    quiet_hours: str = "22:00-08:00"
    inbound_lease_seconds: int = 60
    not_ready_notice_seconds: int = 30
    media_max_bytes: int = 5 * 1024 * 1024
    media_quota_bytes: int = 200 * 1024 * 1024
    media_url_ttl_seconds: int = 900
    # The reminders and watchers an assistant may report at once, and the longest name one may have (at most 200,
    # the column's width).
    automations_max: int = 100
    automation_name_max_chars: int = 200

    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_price_id: str | None = None
    stripe_api_base_url: str | None = None
    # bpc_...: the customer portal's configuration; unset, one with invoice history is made on first use.
    stripe_portal_configuration: str | None = None
    past_due_grace_days: float = 7.0

    anthropic_api_key: str | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    llm_db_pool_size: int = 10
    llm_max_calls_in_flight: int = 4
    llm_min_output_tokens: int = 1024
    llm_reservation_ttl_seconds: int = 180

    # Web search through the control plane (none in a container): the shared key, what one query costs the
    # user, and how many a user may run a day.
    brave_search_api_key: str | None = None
    brave_search_base_url: str = "https://api.search.brave.com"
    search_price_millicents: int = 500
    search_queries_per_day: int = 100
    # Voice notes: transcribed by an OpenAI-compatible upstream through our proxy, charged by audio duration.
    openai_api_key: str | None = None
    transcription_base_url: str = "https://api.openai.com/v1"
    transcription_model: str = "whisper-1"
    transcription_price_millicents_per_minute: int = 600
    transcription_minutes_per_day: int = 60
    transcription_max_bytes: int = 20 * 1024 * 1024

    google_client_id: str | None = None
    google_client_secret: str | None = None
    # Google's consent page, its token and revoke endpoints, and its APIs (the stand-in's in dev and tests).
    google_auth_base_url: str = "https://accounts.google.com"
    google_token_base_url: str = "https://oauth2.googleapis.com"
    google_api_base_url: str = "https://www.googleapis.com"
    # How long a consent may take between "Connect" and Google's redirect back.
    google_oauth_state_ttl_seconds: int = 600
    # Tool calls (Calendar, Gmail, Drive) one user's assistant may make per minute through our MCP server.
    google_tool_calls_per_minute: int = 30

    encryption_key: str | None = None

    # JSON and form bodies are read before the route knows its caller: kept small (uploads and the LLM
    # proxy have limits of their own and read only once the caller is known).
    request_max_body_bytes: int = 1024 * 1024

    api_url: str = "http://127.0.0.1:8000"
    app_url: str = "http://127.0.0.1:8000"
    runtime_api_url: str | None = None

    rate_limit_msg_per_min: int = 5
    rate_limit_msg_per_day: int = 100

    worker_poll_interval: float = 5.0
    worker_max_attempts: int = 3

    phone_code_ttl_minutes: int = 30
    phone_attempts_per_hour: int = 10
    unverified_phone_retention_days: float = 7.0
    session_ttl_days: int = 14
    assistant_token_grace_seconds: int = 300
    signup_credit_cents: int = 1000

    docker_tls_dir: str | None = None
    docker_api_version: str = "1.41"
    assistant_image: str = "yourclaw-openclaw:latest"
    container_memory: str = "2g"
    container_cpus: float = 1.0
    container_pids_limit: int = 512
    container_tmp_size: str = "512m"
    # Each assistant's volume: made with this driver (hosts run `yourclaw-volumes`, infra/ansible; "local"
    # means no size limit) at this size. A size change applies to new volumes only.
    volume_driver: str = "local"
    volume_size: str = "2g"
    # The workspace's use is read this often, and the user told once when it passes this share of the size.
    workspace_measure_seconds: float = 300.0
    workspace_warn_percent: int = 90
    reconcile_interval: float = 5.0
    poll_wait_seconds: int = 25
    provision_timeout_seconds: int = 180
    orphan_grace_seconds: int = 60
    volume_retention_days: float = 30.0
    host_failure_threshold: int = 3
    # Started, unassigned assistants kept per host for new users (a host's `warm_pool` overrides it).
    warm_pool_size: int = 0

    # /metrics on the API (and on the worker and reconciler when METRICS_PORT is set) asks for this bearer
    # token when it is set; unset, it answers anyone who can reach it.
    metrics_token: str | None = None
    # Where `yourclaw worker` and `yourclaw reconcile` answer /metrics (0: nowhere; the API always does).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    # How often the worker counts its queues for the gauges.
    metrics_sample_seconds: float = 15.0

    # The largest assistant workspace an export of the user's data carries (it is held in the database until
    # downloaded, for EXPORT_RETENTION_HOURS).
    export_max_bytes: int = 100 * 1024 * 1024
    export_retention_hours: float = 24.0
    # What the dashboard's "Memory" section shows of the assistant's memory files (read off the volume by the
    # reconciler and kept as a snapshot): at most this much text in all, and this many files; past either the
    # snapshot says what it left out. Reading more than MEMORY_READ_MAX_BYTES off the volume fails the read.
    memory_snapshot_max_bytes: int = 512 * 1024
    memory_max_files: int = 200
    memory_read_max_bytes: int = 16 * 1024 * 1024

    # Each user's volume backed up to S3-compatible storage (off while BACKUP_BUCKET is unset): one object per
    # backup, every BACKUP_INTERVAL_HOURS; the newest BACKUP_KEEP are kept, and none older than BACKUP_KEEP_DAYS
    # but the newest. The credentials are the control plane's alone (no container ever sees them).
    backup_bucket: str | None = None
    backup_endpoint_url: str | None = None
    backup_region: str = "us-east-1"
    backup_access_key_id: str | None = None
    backup_secret_access_key: str | None = None
    backup_interval_hours: float = 24.0
    backup_keep: int = 7
    backup_keep_days: float = 30.0

    mock_twilio: bool = False
    mock_containers: bool = False
    mock_stripe: bool = False
    mock_google: bool = False

    @property
    def is_development(self) -> bool:
        return self.yourclaw_env == "development"

    @property
    def whatsapp_simulator(self) -> bool:
        """The pages' WhatsApp simulator: only in development with the local Twilio stand-in."""
        return self.mock_twilio and self.is_development

    @property
    def dev_sign_in(self) -> bool:
        """Dev sign-in exists exactly when no identity provider is configured."""
        return not self.supabase_url

    @property
    def embedded_database(self) -> bool:
        return not self.database_url

    @property
    def state_dir(self) -> Path:
        return Path(self.yourclaw_state_dir)

    @property
    def tls_dir(self) -> Path:
        return Path(self.docker_tls_dir) if self.docker_tls_dir else self.state_dir / "tls"

    @property
    def disconnect_after_seconds(self) -> float:
        """No poll for twice the wait plus a margin means the assistant cannot reach us."""
        return 2 * self.poll_wait_seconds + 10

    @property
    def assistant_api_url(self) -> str:
        """What containers call; the public API_URL stays what Twilio signs."""
        return self.runtime_api_url or self.api_url

    @property
    def jwt_issuer(self) -> str | None:
        if self.supabase_url:
            return self.supabase_url.rstrip("/") + "/auth/v1"
        return None

    @property
    def dev_jwt_issuer(self) -> str:
        return self.api_url.rstrip("/") + "/dev-auth"

    @property
    def jwks_url(self) -> str | None:
        if self.supabase_url:
            return self.supabase_url.rstrip("/") + "/auth/v1/.well-known/jwks.json"
        return None

    @property
    def media_hosts(self) -> list[str]:
        """TWILIO_MEDIA_HOSTS, and the host of TWILIO_API_BASE_URL (the stand-in's, in tests and dev): what
        stands for Twilio's API is where its media are."""
        hosts = [h.strip().lower().strip(".") for h in self.twilio_media_hosts.split(",") if h.strip()]
        if self.twilio_api_base_url:
            hosts.append((urlsplit(self.twilio_api_base_url).hostname or "").lower())
        if self.mock_twilio and self.is_development:
            # The local Twilio stand-in runs in the worker's half of `yourclaw dev`, so the API's settings never
            # learn its address; it is on this machine's loopback (and MOCK_TWILIO is refused in production).
            hosts.append("127.0.0.1")
        return [h for h in hosts if h]

    @property
    def google_connect_enabled(self) -> bool:
        """Connecting Google services needs an OAuth client (the stand-in's, with MOCK_GOOGLE)."""
        return bool(self.google_client_id and self.google_client_secret)

    @property
    def fernet_keys(self) -> list[str]:
        return [k.strip() for k in (self.encryption_key or "").split(",") if k.strip()]

    def dev_modes(self) -> list[str]:
        """Everything that must never be on in production unless YOURCLAW_ENV=development."""
        modes = []
        if self.dev_sign_in:
            modes.append("dev sign-in (SUPABASE_URL unset)")
        if self.embedded_database:
            modes.append("embedded PostgreSQL (DATABASE_URL unset)")
        for name in ("mock_twilio", "mock_containers", "mock_stripe", "mock_google"):
            if getattr(self, name):
                modes.append(name.upper())
        return modes


_ENV_NAMES = {name.upper(): name for name in Settings.__struct_fields__}


def _convert(env_name: str, raw: str, annotation: object) -> object:
    value: object = raw
    if isinstance(raw, str):
        value = raw.strip()
        if value == "":
            return None
        if annotation in (bool, bool | None):
            lowered = str(value).lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise SettingsError(f"{env_name}: expected true or false, got {raw!r}")
    try:
        return msgspec.convert(value, annotation, strict=False)
    except msgspec.ValidationError:
        kind = getattr(annotation, "__name__", str(annotation))
        raise SettingsError(f"{env_name}: expected {kind}, got {raw!r}") from None


def normalize_database_url(url: str) -> str:
    """Accept postgresql:// or postgresql+asyncpg:// and always hand SQLAlchemy the asyncpg form."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
        raise SettingsError("DATABASE_URL: expected postgresql://user:password@host:port/db (or postgresql+asyncpg://)")
    return "postgresql+asyncpg://" + rest


def _validate(settings: Settings) -> None:
    if settings.yourclaw_env not in ("production", "development"):
        raise SettingsError(f"YOURCLAW_ENV: expected production or development, got {settings.yourclaw_env!r}")
    if settings.database_url:
        normalize_database_url(settings.database_url)
    for name in (
        "api_url",
        "app_url",
        "runtime_api_url",
        "supabase_url",
        "anthropic_base_url",
        "twilio_api_base_url",
        "stripe_api_base_url",
        "brave_search_base_url",
        "transcription_base_url",
        "google_auth_base_url",
        "google_token_base_url",
        "google_api_base_url",
    ):
        value = getattr(settings, name)
        if value is None:
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(f"{name.upper()}: expected an http(s) URL, got {value!r}")
    if not settings.fernet_keys:
        raise SettingsError(
            "ENCRYPTION_KEY: required (one or more comma-separated Fernet keys; make one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
        )
    for index, key in enumerate(settings.fernet_keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise SettingsError(f"ENCRYPTION_KEY: key #{index + 1} is not a valid Fernet key") from None
    if settings.dev_sign_in and not settings.dev_jwt_secret:
        raise SettingsError("DEV_JWT_SECRET: required when SUPABASE_URL is unset (dev sign-in)")
    if settings.supabase_url is None and settings.supabase_jwt_secret:
        raise SettingsError("SUPABASE_JWT_SECRET: set SUPABASE_URL too (the token issuer)")
    positive = (
        "rate_limit_msg_per_min",
        "rate_limit_msg_per_day",
        "worker_max_attempts",
        "db_pool_size",
        "phone_code_ttl_minutes",
        "session_ttl_days",
        "llm_db_pool_size",
        "llm_max_calls_in_flight",
        "llm_min_output_tokens",
        "llm_reservation_ttl_seconds",
        "outbound_parts_daily_cap",
        "reply_window_seconds",
        "request_max_body_bytes",
        "jwks_max_stale_seconds",
        "dev_token_ttl_seconds",
        "supabase_user_recheck_seconds",
        "phone_attempts_per_hour",
        "media_quota_bytes",
        "unverified_phone_retention_days",
        "metrics_sample_seconds",
        "export_max_bytes",
        "export_retention_hours",
        "memory_snapshot_max_bytes",
        "memory_max_files",
        "memory_read_max_bytes",
        "backup_interval_hours",
        "backup_keep",
        "backup_keep_days",
        "typing_renew_seconds",
        "search_queries_per_day",
        "transcription_minutes_per_day",
        "transcription_max_bytes",
        "google_oauth_state_ttl_seconds",
        "google_tool_calls_per_minute",
        "automations_max",
    )
    if settings.warm_pool_size < 0:
        raise SettingsError("WARM_POOL_SIZE: must be 0 (no pool) or more")
    for name in positive:
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{name.upper()}: must be a positive number")
    if not 0 < settings.automation_name_max_chars <= 200:
        raise SettingsError("AUTOMATION_NAME_MAX_CHARS: must be 1 to 200 (the column's width)")
    if not 0 <= settings.metrics_port <= 65535:
        raise SettingsError("METRICS_PORT: expected a TCP port (0: no metrics listener)")
    for name in ("search_price_millicents", "transcription_price_millicents_per_minute"):
        if getattr(settings, name) < 0:
            raise SettingsError(f"{name.upper()}: must not be negative")


def dotenv_values_at(path: Path | None = None) -> dict[str, str]:
    """The variables `.env` (or `path`) sets; none when it is absent."""
    path = path if path is not None else Path(".env")
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(env: dict[str, str] | None = None, *, dotenv: Path | None = None) -> Settings:
    """Build settings from `env` (default: os.environ), with `.env` values underneath."""
    source: dict[str, str] = dotenv_values_at(dotenv) if env is None else {}
    source.update(os.environ if env is None else env)

    hints = {f.name: f.type for f in msgspec.structs.fields(Settings)}
    values: dict[str, object] = {}
    for env_name, field in _ENV_NAMES.items():
        if env_name in source:
            converted = _convert(env_name, source[env_name], hints[field])
            if converted is not None:
                values[field] = converted
    settings = Settings(**values)
    _validate(settings)
    return settings


@functools.cache
def get_settings() -> Settings:
    return load_settings()
