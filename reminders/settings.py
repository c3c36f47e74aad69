"""Every setting the project reads from the environment: typed, validated once, in one place.

`load_settings()` reads `os.environ` (or a mapping, for tests and embedding) and turns every
problem into one ConfigurationError that names the variable and what is wrong with it.
Secrets are `SecretStr`: printing the settings shows `**********`, and `secrets()` lists
their values for the log filter. Nothing else in the package reads the environment.
The README's "Configuration" table lists the same variables (a test keeps them in step).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from reminders.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///reminders.db"
SECRET_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD", re.IGNORECASE)
DEFAULT_PUBLIC_URL = "http://localhost:8000"
LANGUAGES = ("vi", "en")

# One convention for every platform address: the platform's base URL, scheme and host (and a
# path prefix, for a server behind a proxy), never a method's path. Each adapter appends its
# own paths (`/bot<token>/<method>`, `/v4/oa/access_token`). The forms of earlier versions
# are refused with what to write instead.
PLATFORM_URLS: dict[str, tuple[str, tuple[str, ...]]] = {  # field -> (default, old suffixes)
    "telegram_api_url": ("https://api.telegram.org", ("/bot",)),
    "zalo_oa_api_url": ("https://openapi.zalo.me", ("/v2.0/oa", "/v3.0/oa", "/v2.0", "/v3.0")),
    "zalo_oa_oauth_url": ("https://oauth.zaloapp.com", ("/v4/oa/access_token", "/v4/oa", "/v4")),
    "zalo_bot_api_url": ("https://bot-api.zaloplatforms.com", ("/bot",)),
}


def env(*names: str, default: Any = None, **constraints: Any) -> Any:
    """A field read from the environment variable `names[0]` (or the later ones, in order)."""
    alias = AliasChoices(*names) if len(names) > 1 else names[0]
    return Field(default, validation_alias=alias, **constraints)


class Settings(BaseSettings):
    """One process's configuration (README, "Configuration")."""

    # Read by the variables' names only (never a field's bare name: LANGUAGE or SECRET_KEY set for
    # something else must not configure us); unknown names are an error, not silently ignored.
    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_ignore_empty=True)
    _environ: dict[str, str] = PrivateAttr(default_factory=dict)  # the variables it was read from

    # -- where things are ------------------------------------------------------------
    database_url: str = env("REMINDERS_DATABASE_URL", "DATABASE_URL", default=DEFAULT_DATABASE_URL, repr=False)
    redis_url: str | None = env("REMINDERS_REDIS_URL", "REDIS_URL", repr=False)
    redis_namespace: str = env("REMINDERS_REDIS_NAMESPACE", default="reminders", min_length=1)
    calendars: str = env("REMINDERS_CALENDARS", default="calendars", min_length=1)
    roster_file: str = env("REMINDERS_ROSTER", default="")  # "" means roster.yaml in the calendars
    data_dir: str = env("REMINDERS_DATA_DIR", default="")  # "" means ~/.local/share/reminders
    adapters: Annotated[tuple[str, ...], NoDecode] = env("REMINDERS_ADAPTERS", default=("console",))
    public_url: str = env("REMINDERS_PUBLIC_URL", default=DEFAULT_PUBLIC_URL)
    console_file: str | None = env("REMINDERS_CONSOLE_FILE")
    secret_key: SecretStr | None = env("REMINDERS_SECRET_KEY")

    # -- timing ----------------------------------------------------------------------
    horizon_days: float = env("REMINDERS_HORIZON_DAYS", default=14.0, ge=1)
    tick_seconds: float = env("REMINDERS_TICK_SECONDS", default=10.0, ge=0.1)
    claim_lease_seconds: float = env("REMINDERS_CLAIM_LEASE_SECONDS", default=300.0, ge=1)
    scheduler_lease_seconds: float = env("REMINDERS_SCHEDULER_LEASE_SECONDS", default=30.0, ge=3)
    reload_seconds: float = env("REMINDERS_RELOAD_SECONDS", default=5.0)  # 0 or less: hot reload off

    # -- people-facing and logs --------------------------------------------------------
    language: Literal["vi", "en"] = env("REMINDERS_LANGUAGE", default="vi")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = env("REMINDERS_LOG_LEVEL",
                                                                              default="WARNING")
    log_format: Literal["text", "json"] = env("REMINDERS_LOG_FORMAT", default="text")

    # -- Telegram ----------------------------------------------------------------------
    telegram_bot_token: SecretStr | None = env("TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = env("TELEGRAM_API_URL", default=PLATFORM_URLS["telegram_api_url"][0])
    telegram_webhook_secret: SecretStr | None = env("TELEGRAM_WEBHOOK_SECRET")
    # Paid broadcast (Telegram charges Stars per message over 30/s): 0 off, else messages/s, at most 1,000.
    telegram_paid_broadcast: int = env("TELEGRAM_PAID_BROADCAST", default=0, ge=0, le=1000)

    # -- Zalo (docs/zalo.md) -------------------------------------------------------------
    zalo_app_id: str | None = env("ZALO_APP_ID")
    zalo_app_secret: SecretStr | None = env("ZALO_APP_SECRET")
    zalo_oa_access_token: SecretStr | None = env("ZALO_OA_ACCESS_TOKEN")
    zalo_oa_refresh_token: SecretStr | None = env("ZALO_OA_REFRESH_TOKEN")
    zalo_oa_secret_key: SecretStr | None = env("ZALO_OA_SECRET_KEY")
    zalo_oa_api_url: str = env("ZALO_OA_API_URL", default=PLATFORM_URLS["zalo_oa_api_url"][0])
    zalo_oa_oauth_url: str = env("ZALO_OA_OAUTH_URL", default=PLATFORM_URLS["zalo_oa_oauth_url"][0])
    zalo_bot_token: SecretStr | None = env("ZALO_BOT_TOKEN")
    zalo_bot_api_url: str = env("ZALO_BOT_API_URL", default=PLATFORM_URLS["zalo_bot_api_url"][0])
    zalo_bot_webhook_secret: SecretStr | None = env("ZALO_BOT_WEBHOOK_SECRET")

    # -- validation ----------------------------------------------------------------------
    @field_validator("adapters", mode="before")
    @classmethod
    def _split_adapters(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(name.strip() for name in value.split(",") if name.strip())
        if not value:
            raise ValueError("is empty; name at least one adapter, e.g. console")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().upper()
            return {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(value, value)
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: object) -> object:
        """'EN', 'en_US', 'vi-VN' are English and Vietnamese."""
        if isinstance(value, str):
            return value.strip().lower().replace("-", "_").split("_")[0]
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters; make one with "
                             "python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
        return value

    @field_validator("reload_seconds")
    @classmethod
    def _off(cls, value: float) -> float:
        return max(0.0, value)

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator(*PLATFORM_URLS)
    @classmethod
    def _platform_url(cls, value: str, info: ValidationInfo) -> str:
        default, old_suffixes = PLATFORM_URLS[str(info.field_name)]
        url = _http_url(value, f"e.g. {default}")
        path = urlsplit(url).path
        for suffix in old_suffixes:
            if path.endswith(suffix):
                instead = url[: -len(suffix)]
                raise ValueError(f"must be the platform's base URL, without {suffix} (reminders adds the "
                                 f"method paths): write {instead}")
        return url

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return checked_public_url(value)

    # -- derived -------------------------------------------------------------------------
    @property
    def roster(self) -> str:
        """The roster file: REMINDERS_ROSTER, or roster.yaml beside the duty files."""
        return self.roster_file or os.path.join(self.calendars, "roster.yaml")

    @property
    def data_directory(self) -> Path:
        """Where commands write what they make (reports): REMINDERS_DATA_DIR, or the user's
        data folder, never the directory the command happens to run in."""
        return Path(self.data_dir) if self.data_dir else Path.home() / ".local" / "share" / "reminders"

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.horizon_days)

    @property
    def claim_lease(self) -> timedelta:
        return timedelta(seconds=self.claim_lease_seconds)

    @property
    def scheduler_lease(self) -> timedelta:
        return timedelta(seconds=self.scheduler_lease_seconds)

    def secrets(self) -> list[str]:
        """Every secret value to keep out of logs and stored texts: the secret settings,
        passwords in the database and Redis URLs, and any other variable of the process
        whose name says it is one (*TOKEN*, *SECRET*, *KEY*, *PASSWORD*: PGPASSWORD, a
        plug-in adapter's token)."""
        values = [v.get_secret_value() for v in self.__dict__.values() if isinstance(v, SecretStr)]
        for url in (self.database_url, self.redis_url or ""):
            password = _url_password(url)
            if password:
                values.append(password)
        values += [v for name, v in self._environ.items() if SECRET_NAME.search(name)]
        return [v for v in dict.fromkeys(values) if v]

    def plugin_environment(self, prefix: str) -> dict[str, str]:
        """The variables starting with `prefix` (e.g. "SMS_"), for a third-party adapter's own
        settings: its `from_settings` reads them here, not from os.environ."""
        return {name: value for name, value in self._environ.items() if name.startswith(prefix)}

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests, `simulate`), validated like the original.
        An unknown field name is an error."""
        unknown = set(changes) - set(type(self).model_fields)
        if unknown:
            raise TypeError(f"Settings has no field {', '.join(sorted(unknown))}")
        values = {**self.model_dump(), **changes}
        copy = type(self).model_validate({_first_alias(type(self).model_fields[k]): v for k, v in values.items()})
        copy._environ = dict(self._environ)
        return copy

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment only: no .env file, no secrets directory (deployments differ; one source is clear).
        return init_settings, env_settings


def checked_public_url(value: str) -> str:
    """The web app's public address, checked like REMINDERS_PUBLIC_URL (also for a --base-url
    option): ValueError says what is wrong."""
    return _http_url(value, "the web app's address as people and platforms reach it, e.g. "
                            "https://nhacviec.example.vn")


def _http_url(value: str, example: str) -> str:
    """An http(s) URL with a host and nothing after the path, without a trailing slash."""
    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError(f"is not a URL; {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must start with https:// (or http://) and name a host; {example}")
    if parts.query or parts.fragment:
        raise ValueError(f"must have no ?query or #fragment; {example}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


class _MappingSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], mapping: Mapping[str, str]):
        self._mapping = dict(mapping)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._mapping.items() if v != ""}  # empty means unset


def _first_alias(info: FieldInfo) -> str:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: os.environ); ConfigurationError names each bad variable."""
    mapping = dict(os.environ if environ is None else environ)
    try:

        class FromMapping(Settings):
            @classmethod
            def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                           *args: PydanticBaseSettingsSource, **kwargs: PydanticBaseSettingsSource,
                                           ) -> tuple[PydanticBaseSettingsSource, ...]:
                return (_MappingSource(settings_cls, mapping),)

        loaded = FromMapping()
    except ValidationError as exc:
        raise ConfigurationError(_explain(exc)) from None
    settings = Settings.model_validate({_first_alias(Settings.model_fields[k]): v
                                        for k, v in loaded.model_dump().items()})
    settings._environ = mapping
    return settings


def _fields_by_variable() -> dict[str, str]:
    """Every variable name (and field name) -> its field."""
    found: dict[str, str] = {}
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        for variable in alias.choices if isinstance(alias, AliasChoices) else [alias]:
            found[str(variable)] = name
        found[name] = name
    return found


NEVER_ECHOED = {"database_url", "redis_url"}  # may hold a password


def _explain(exc: ValidationError) -> str:
    """One line per bad variable: its name, what is wrong, and the value given -- never for a
    secret or a URL that may hold a password."""
    fields = _fields_by_variable()
    lines = []
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else ""
        field = fields.get(where, where)
        variable = _first_alias(Settings.model_fields[field]) if field in Settings.model_fields else where
        message = error["msg"].removeprefix("Value error, ")
        info = Settings.model_fields.get(field)
        hidden = info is None or "SecretStr" in str(info.annotation) or field in NEVER_ECHOED
        given = "" if hidden or "input" not in error else f", not {error['input']!r}"
        lines.append(f"{variable}: {message}{given}")
    return "; ".join(lines)


def cli_language() -> str:
    """REMINDERS_LANGUAGE for the command line's own words, read before anything can fail
    (a bad variable elsewhere must still be reported in the chosen language)."""
    value = os.environ.get("REMINDERS_LANGUAGE", "vi").strip().lower()
    return value if value in LANGUAGES else "vi"
