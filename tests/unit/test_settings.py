"""Configuration from the environment (`session_reply.settings`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from session_reply.settings import DEFAULT_REPLY_TEMPLATE, Settings, SettingsError, get_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No setting leaks in from the shell or another test, and no cached Settings."""
    for name in (f.name for f in dataclasses.fields(Settings)):
        monkeypatch.delenv(name.upper(), raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_settings_have_documented_defaults_when_env_is_empty() -> None:
    settings = get_settings()

    assert settings.onemsg_api_url == "https://api.1msg.io"
    assert settings.onemsg_auth == "bearer"
    assert settings.reply_template == DEFAULT_REPLY_TEMPLATE
    assert settings.managers == ["Our manager"]
    assert settings.session_gap_seconds == 86_400
    assert settings.window_seconds == 86_400
    assert settings.window_margin_seconds == 120


def test_default_template_has_the_three_placeholders_when_unconfigured() -> None:
    assert all(p in DEFAULT_REPLY_TEMPLATE for p in ("{{1}}", "{{2}}", "{{3}}"))


def test_settings_read_upper_case_field_names_when_env_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the env names the template sets
    monkeypatch.setenv("TABLE_NAME", "session-reply-table")
    monkeypatch.setenv("ONEMSG_API_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("ONEMSG_CHANNEL_ID", "100001")
    monkeypatch.setenv("ONEMSG_AUTH", "query")
    monkeypatch.setenv("WEBHOOK_SECRET_PARAM", "/session-reply/webhook-secret")

    settings = get_settings()

    assert settings.table_name == "session-reply-table"
    assert settings.onemsg_api_url == "http://127.0.0.1:9000"
    assert settings.onemsg_channel_id == "100001"
    assert settings.onemsg_auth == "query"
    assert settings.webhook_secret_param == "/session-reply/webhook-secret"


def test_settings_ignore_lower_case_names_when_env_uses_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("table_name", "lower")

    assert get_settings().table_name == ""


def test_settings_convert_numbers_when_env_holds_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_GAP_SECONDS", "3600")
    monkeypatch.setenv("ONEMSG_TIMEOUT_SECONDS", "2.5")

    settings = get_settings()

    assert settings.session_gap_seconds == 3600
    assert settings.onemsg_timeout_seconds == 2.5


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Anna", ["Anna"]),
        ("Anna,Boris", ["Anna", "Boris"]),
        (" Anna , Boris ,Carla ", ["Anna", "Boris", "Carla"]),
        ("Anna,,Boris,", ["Anna", "Boris"]),
        ("Anna Maria, Jo", ["Anna Maria", "Jo"]),
        ("", ["Our manager"]),
        (" , ,", ["Our manager"]),
    ],
)
def test_managers_are_a_clean_list_when_env_is_a_comma_list(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("MANAGERS", raw)

    assert get_settings().managers == expected


def test_managers_stay_a_list_when_given_as_a_list() -> None:
    assert Settings(managers=["Anna", "Boris"]).managers == ["Anna", "Boris"]


def test_settings_refuse_unknown_auth_when_env_has_a_typo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONEMSG_AUTH", "header")

    with pytest.raises(SettingsError, match="ONEMSG_AUTH"):
        get_settings()


def test_settings_refuse_non_numbers_when_env_number_is_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WINDOW_SECONDS", "one day")

    with pytest.raises(SettingsError, match="WINDOW_SECONDS"):
        get_settings()


def test_settings_refuse_a_non_boolean_when_env_flag_is_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REASSIGN_ON_ESCALATION", "sometimes")

    with pytest.raises(SettingsError, match="REASSIGN_ON_ESCALATION"):
        get_settings()


def test_settings_read_a_boolean_when_env_flag_is_true(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REASSIGN_ON_ESCALATION", "true")

    assert get_settings().reassign_on_escalation is True


def test_settings_are_read_once_when_env_changes_later(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given settings already read by this container
    monkeypatch.setenv("TABLE_NAME", "first")
    first = get_settings()

    # When the env changes without a cache clear
    monkeypatch.setenv("TABLE_NAME", "second")

    # Then the container keeps what it read
    assert get_settings() is first
    assert get_settings().table_name == "first"


def test_settings_are_read_again_when_cache_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "first")
    get_settings()
    monkeypatch.setenv("TABLE_NAME", "second")

    get_settings.cache_clear()

    assert get_settings().table_name == "second"
