"""Configuration read from the environment and `.env` with pydantic-settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line naming the setting."""


class Settings(BaseSettings):
    """Every setting feedbot reads; names are the environment variables in `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    token: SecretStr | None = Field(default=None, validation_alias="TELEGRAM_BOT_TOKEN")
    # An SQLite file path, or a postgresql:// URL (storage.db.Database.open decides).
    database: str = Field(default="feedbot.sqlite3", validation_alias="FEEDBOT_DATABASE")
    secret: SecretStr | None = Field(default=None, validation_alias="FEEDBOT_SECRET")
    admins: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), validation_alias="FEEDBOT_ADMINS"
    )
    timezone: str = Field(default="Europe/Warsaw", validation_alias="FEEDBOT_TIMEZONE")
    surveys_dir: Path | None = Field(default=None, validation_alias="FEEDBOT_SURVEYS_DIR")
    api_base_url: str | None = Field(default=None, validation_alias="TELEGRAM_API_BASE_URL")
    bot_username: str | None = Field(default=None, validation_alias="FEEDBOT_BOT_USERNAME")
    anonymity_min: int = Field(default=5, ge=1, validation_alias="FEEDBOT_ANONYMITY_MIN")
    comments_min: int | None = Field(default=None, ge=1, validation_alias="FEEDBOT_COMMENTS_MIN")
    reminder_hours: float = Field(default=24, gt=0, validation_alias="FEEDBOT_REMINDER_HOURS")
    abandon_days: float = Field(default=7, gt=0, validation_alias="FEEDBOT_ABANDON_DAYS")
    pulse_weeks: int = Field(default=4, ge=0, validation_alias="FEEDBOT_PULSE_WEEKS")
    log_level: str = Field(default="INFO", validation_alias="FEEDBOT_LOG_LEVEL")
    # Where Telegram and browsers reach the bot's web server; set, it turns the dashboard on.
    public_url: str | None = Field(default=None, validation_alias="FEEDBOT_PUBLIC_URL")
    webhook_url: str | None = Field(default=None, validation_alias="FEEDBOT_WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="FEEDBOT_WEBHOOK_SECRET"
    )
    webhook_max_connections: int = Field(
        default=40, ge=1, le=100, validation_alias="FEEDBOT_WEBHOOK_MAX_CONNECTIONS"
    )
    listen: str | None = Field(default=None, validation_alias="FEEDBOT_LISTEN")
    inbox_lease: float = Field(
        default=30, gt=0, le=3600, validation_alias="FEEDBOT_INBOX_LEASE_SECONDS"
    )
    # Telegram's limit (about 30 messages a second) is the bot's, whichever instance sends:
    # with N instances give each 30/N. 0 turns the limit off (a test's local Bot API).
    messages_per_second: float = Field(
        default=30, ge=0, validation_alias="FEEDBOT_MESSAGES_PER_SECOND"
    )

    @field_validator("admins", mode="before")
    @classmethod
    def _parse_admins(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError:
                raise ValueError("expected Telegram user ids separated by commas") from None
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters of random text")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("expected the public https:// URL Telegram posts updates to")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for secret_token: 1-256 characters of A-Z, a-z, 0-9, _ and -.
        if value is not None and not _WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("expected 16 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value

    @field_validator(
        "token",
        "secret",
        "webhook_url",
        "webhook_secret",
        "listen",
        "surveys_dir",
        "api_base_url",
        "bot_username",
        "comments_min",
        "public_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        local = parts.hostname in ("127.0.0.1", "localhost")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError(
                "must be an https:// address (Telegram opens Mini Apps only over https); "
                "http:// only for 127.0.0.1 or localhost"
            )
        if not parts.hostname or parts.query or parts.fragment:
            raise ValueError("expected an address such as https://feedback.example.com")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _check_thresholds(self) -> Settings:
        if self.comments_min is not None and self.comments_min < self.anonymity_min:
            raise ValueError("FEEDBOT_COMMENTS_MIN must be at least FEEDBOT_ANONYMITY_MIN")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def comments_threshold(self) -> int:
        return self.comments_min if self.comments_min is not None else self.anonymity_min

    @property
    def dashboard_on(self) -> bool:
        """Whether the dashboard is served (FEEDBOT_PUBLIC_URL is set)."""
        return self.public_url is not None

    def secret_bytes(self) -> bytes:
        """The server secret keying pseudonyms and invite hashes (ConfigError when unset)."""
        if self.secret is None:
            raise ConfigError(
                "FEEDBOT_SECRET is not set: put a long random value in .env, e.g. the output of "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return self.secret.get_secret_value().encode()

    def listen_address(self) -> tuple[str, int] | None:
        """FEEDBOT_LISTEN as (host, port), or None when the bot serves no HTTP."""
        return None if self.listen is None else split_listen(self.listen)

    def webhook(self) -> tuple[str, str, tuple[str, int]]:
        """(URL, secret token, listen address) for webhook mode; ConfigError naming the
        first setting that is missing."""
        for name, value in (
            ("FEEDBOT_WEBHOOK_URL", self.webhook_url),
            ("FEEDBOT_WEBHOOK_SECRET", self.webhook_secret),
            ("FEEDBOT_LISTEN", self.listen),
        ):
            if value is None:
                raise ConfigError(f"{name} is not set: webhook mode needs it ({_HINTS[name]})")
        assert self.webhook_url is not None and self.webhook_secret is not None
        address = self.listen_address()
        assert address is not None
        return self.webhook_url, self.webhook_secret.get_secret_value(), address


def split_listen(value: str) -> tuple[str, int]:
    """`host:port` (an IPv6 host in brackets) as (host, port); ValueError naming the form."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError("expected host:port, e.g. 127.0.0.1:8080")
    return host, int(port)


_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")
_HINTS = {
    "FEEDBOT_WEBHOOK_URL": "the public https:// URL the reverse proxy forwards to this bot",
    "FEEDBOT_WEBHOOK_SECRET": "16 to 256 random characters of A-Z, a-z, 0-9, _ and -",
    "FEEDBOT_LISTEN": "host:port the bot's HTTP server binds, e.g. 127.0.0.1:8080",
}


_ALIASES = {name: str(field.validation_alias) for name, field in Settings.model_fields.items()}


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Read the settings, turning a validation error into a one-line ConfigError."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"][0] if first["loc"] else ""
        setting = _ALIASES.get(str(loc), str(loc)) or "configuration"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{setting}: {message}") from None
