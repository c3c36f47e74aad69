"""The settings: every variable the README documents is a field, and every field is documented;
bad values are refused naming the variable, by the library and by the command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AliasChoices

from reminders.errors import ConfigurationError
from reminders.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def _readme_variables() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration (environment variables)", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def _setting_variables() -> set[str]:
    names = set()
    for info in Settings.model_fields.values():
        alias = info.validation_alias
        names.update(alias.choices if isinstance(alias, AliasChoices) else [alias])
    return {str(n) for n in names}


def test_the_readme_table_and_the_settings_are_the_same_set():
    assert _readme_variables() == _setting_variables()


def test_nothing_else_reads_the_environment():
    readers = [path.relative_to(ROOT).as_posix() for path in (ROOT / "reminders").rglob("*.py")
               if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text(encoding="utf-8"))]
    # settings.py reads it; the Telegram adapter only sets python-telegram-bot's own switch.
    assert sorted(readers) == ["reminders/adapters/telegram.py", "reminders/settings.py"]


@pytest.mark.parametrize("variable, value, said", [
    ("REMINDERS_TICK_SECONDS", "0", "greater than or equal to 0.1"),
    ("REMINDERS_HORIZON_DAYS", "two", "valid number"),
    ("REMINDERS_ADAPTERS", " , ", "is empty"),
    ("REMINDERS_DATABASE_URL", "mysql://x", "sqlite:// or postgresql://"),
    ("REMINDERS_LOG_FORMAT", "xml", "'text' or 'json'"),
])
def test_a_bad_value_names_the_variable(variable, value, said):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({variable: value})
    assert str(caught.value).startswith(f"{variable}: ") and said in str(caught.value)


def test_secrets_are_never_printed_and_are_listed_for_the_log_filter():
    settings = load_settings({"TELEGRAM_BOT_TOKEN": "123456:AAE-secret-token",
                              "REMINDERS_DATABASE_URL": "postgresql://app:pg-password@db/reminders"})
    assert "AAE-secret-token" not in repr(settings) and "pg-password" not in repr(settings)
    assert {"123456:AAE-secret-token", "pg-password"} <= set(settings.secrets())
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"TELEGRAM_BOT_TOKEN": "", "REMINDERS_LOG_LEVEL": "loud", "ZALO_APP_SECRET": "x" * 40})
    assert "x" * 40 not in str(caught.value)


def test_an_empty_value_is_unset_and_the_roster_follows_the_calendars():
    settings = load_settings({"REMINDERS_RELOAD_SECONDS": "", "REMINDERS_CALENDARS": "/srv/duties"})
    assert settings.reload_seconds == 5.0 and settings.roster == "/srv/duties/roster.yaml"
    assert settings.replace(calendars="/x").roster == "/x/roster.yaml"
    assert load_settings({"REMINDERS_ROSTER": "/etc/r.yaml"}).replace(calendars="/x").roster == "/etc/r.yaml"


def test_the_command_line_refuses_a_bad_variable_without_a_traceback(tmp_path):
    env = {**os.environ, "REMINDERS_TICK_SECONDS": "abc", "REMINDERS_LANGUAGE": "en"}
    result = subprocess.run([sys.executable, "-m", "reminders.cli", "check"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert "REMINDERS_TICK_SECONDS" in result.stderr and "Traceback" not in result.stderr + result.stdout


def test_only_the_documented_names_are_read():
    """LANGUAGE=en_US:en, SECRET_KEY and LOG_LEVEL belong to other programs: they must not
    configure us (nor stop us when they would be invalid for us)."""
    settings = load_settings({"LANGUAGE": "en_US:en", "SECRET_KEY": "short", "LOG_LEVEL": "debug",
                              "CALENDARS": "/elsewhere", "ADAPTERS": "telegram"})
    assert (settings.language, settings.log_level, settings.calendars, settings.adapters) == \
        ("vi", "WARNING", "calendars", ("console",))
    assert settings.secret_key is None


def test_friendly_spellings_and_off():
    settings = load_settings({"REMINDERS_LANGUAGE": "EN", "REMINDERS_LOG_LEVEL": "warn",
                              "REMINDERS_RELOAD_SECONDS": "-1"})
    assert (settings.language, settings.log_level, settings.reload_seconds) == ("en", "WARNING", 0.0)
    assert load_settings({"REMINDERS_LANGUAGE": "vi_VN"}).language == "vi"


@pytest.mark.parametrize("variable, value", [
    ("REMINDERS_SECRET_KEY", "tooshort-secret-value"),
    ("REMINDERS_DATABASE_URL", "mysql://admin:S3cretPw@db/x"),
    ("REMINDERS_REDIS_URL", "http://user:R3disPw@cache:6379/0"),
])
def test_a_refused_secret_is_not_repeated(variable, value):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({variable: value})
    assert str(caught.value).startswith(variable) and value not in str(caught.value)
    assert "S3cretPw" not in str(caught.value) and "R3disPw" not in str(caught.value)


def test_other_secrets_of_the_process_are_redacted_too():
    settings = load_settings({"PGPASSWORD": "pg-password-1", "SMS_GATEWAY_TOKEN": "sms-token-1", "PATH": "/usr/bin"})
    assert {"pg-password-1", "sms-token-1"} <= set(settings.secrets()) and "/usr/bin" not in settings.secrets()
    assert settings.plugin_environment("SMS_") == {"SMS_GATEWAY_TOKEN": "sms-token-1"}


def test_replace_refuses_a_field_that_does_not_exist():
    with pytest.raises(TypeError):
        load_settings({}).replace(roster="/etc/roster.yaml")  # the field is roster_file
