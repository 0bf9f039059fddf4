"""Pure domain rules: the window, the reply text, manager assignment, status order."""

from __future__ import annotations

import pytest
from session_reply.domain.assignment import (
    Manager,
    candidates,
    from_names,
    manager_id,
    sticky,
    team_for,
)
from session_reply.domain.reply import MAX_BODY_CHARS, first_name, render_reply
from session_reply.domain.status import (
    LEAD_AUTO_REPLIED,
    LEAD_IN_PROGRESS,
    LEAD_NEW,
    LEAD_STATUS_RANK,
    LEAD_UNREACHABLE,
    LEAD_WINDOW_CLOSED,
    MESSAGE_STATUS_RANK,
    UNKNOWN,
)
from session_reply.domain.window import window_expires_at, window_open
from session_reply.settings import DEFAULT_REPLY_TEMPLATE

DAY = 86_400
T0 = 1_700_000_000

# -- window --------------------------------------------------------------------------------


def test_window_expires_a_window_length_after_the_client_message_when_computed() -> None:
    assert window_expires_at(T0, DAY) == T0 + DAY


def test_window_is_open_when_now_is_before_expiry() -> None:
    assert window_open(T0 + DAY, now=T0 + DAY - 1) is True


def test_window_is_closed_when_now_is_exactly_expiry() -> None:
    assert window_open(T0 + DAY, now=T0 + DAY) is False


def test_window_is_closed_when_expiry_is_unknown() -> None:
    # No client message ever: no window to send free text into
    assert window_open(None, now=T0) is False


def test_window_is_closed_when_margin_reaches_expiry() -> None:
    # Given 100 s left and a 120 s safety margin: the message might land after the close
    assert window_open(T0 + 100, now=T0, margin_seconds=120) is False


def test_window_is_open_when_margin_still_fits_before_expiry() -> None:
    assert window_open(T0 + 121, now=T0, margin_seconds=120) is True


def test_window_accepts_float_now_when_clock_has_milliseconds() -> None:
    assert window_open(T0 + 1, now=T0 + 0.999) is True
    assert window_open(T0 + 1, now=T0 + 1.001) is False


def test_render_reply_fills_every_placeholder_when_template_is_the_default() -> None:
    text = render_reply(DEFAULT_REPLY_TEMPLATE, "Anna", "delivery", "Boris")

    assert text == (
        "Hello, Anna! We received your request about «delivery». "
        "Boris is reviewing it and will reply shortly."
    )


def test_render_reply_fills_repeated_placeholders_when_template_uses_one_twice() -> None:
    assert render_reply("{{1}}, {{1}}!", "Anna", "t", "m") == "Anna, Anna!"


def test_render_reply_leaves_text_alone_when_template_has_no_placeholders() -> None:
    assert render_reply("Thanks, we are on it.", "Anna", "t", "m") == "Thanks, we are on it."


def test_render_reply_is_cut_to_the_body_limit_when_values_are_huge() -> None:
    text = render_reply("{{2}}", "Anna", "x" * 10_000, "m")

    assert len(text) == MAX_BODY_CHARS == 4096


def test_render_reply_keeps_client_name_literally_when_name_contains_a_placeholder() -> None:
    text = render_reply("Hi {{1}}, about {{2}}", "{{2}}", "delivery", "Boris")

    assert text == "Hi {{2}}, about delivery"


def test_first_name_collapses_whitespace_when_profile_name_is_spaced() -> None:
    assert first_name("  Anna \n  Petrova ", "there") == "Anna Petrova"


@pytest.mark.parametrize("name", ["", "   ", "😀🎉", "+7 900 123", "..."])
def test_first_name_uses_fallback_when_profile_name_has_no_letters(name: str) -> None:
    assert first_name(name, "there") == "there"


def test_first_name_keeps_non_latin_letters_when_name_is_cyrillic() -> None:
    assert first_name("Анна 🌸", "there") == "Анна 🌸"


def test_first_name_is_cut_to_60_chars_when_profile_name_is_long() -> None:
    assert first_name("A" * 200, "there") == "A" * 60


# -- managers ------------------------------------------------------------------------------


def mgr(id: str, topics: tuple[str, ...] = (), **kw: object) -> Manager:
    return Manager(id=id, name=id.title(), topics=topics, **kw)  # type: ignore[arg-type]


def test_team_is_the_topic_specialists_when_some_manager_lists_the_topic() -> None:
    managers = [mgr("anna", ("delivery",)), mgr("boris"), mgr("carla", ("delivery",))]
    key, team = team_for("delivery", managers)
    assert (key, [m.id for m in team]) == ("topic:delivery", ["anna", "carla"])


def test_team_is_the_generalists_when_nobody_lists_the_topic() -> None:
    managers = [mgr("anna", ("payment",)), mgr("boris"), mgr("carla")]
    assert [m.id for m in team_for("delivery", managers)[1]] == ["boris", "carla"]


def test_team_is_everyone_active_when_there_are_only_specialists_of_other_topics() -> None:
    managers = [mgr("anna", ("payment",)), mgr("boris", ("returns",), active=False)]
    assert [m.id for m in team_for("delivery", managers)[1]] == ["anna"]


def test_round_robin_gives_each_manager_a_turn_when_turns_advance() -> None:
    team = [mgr("anna"), mgr("boris"), mgr("carla")]
    firsts = [candidates(team, turn)[0].id for turn in range(1, 7)]
    assert firsts == ["anna", "boris", "carla", "anna", "boris", "carla"]


def test_full_and_inactive_managers_are_skipped_when_choosing() -> None:
    team = [mgr("anna", capacity=2, load=2), mgr("boris", active=False), mgr("carla", capacity=3)]
    assert [m.id for m in candidates(team, 1)] == ["carla"]
    assert candidates([mgr("anna", capacity=1, load=1)], 1) == []


def test_returning_lead_keeps_its_manager_when_that_manager_is_still_active() -> None:
    managers = [mgr("anna"), mgr("boris", capacity=1, load=1)]
    assert sticky("boris", managers) == managers[1]  # capacity does not apply
    assert sticky("boris", [mgr("anna"), mgr("boris", active=False)]) is None
    assert sticky(None, managers) is None


def test_managers_from_the_parameter_get_stable_ids_when_names_are_given() -> None:
    managers = from_names(["Anna Petrova", " ", "Boris Ivanov"])
    assert [(m.id, m.in_table) for m in managers] == [
        ("anna-petrova", False),
        ("boris-ivanov", False),
    ]
    assert manager_id("Ünal O'Neil") == "nal-o-neil"


# -- statuses ------------------------------------------------------------------------------


def test_message_status_rank_moves_forward_when_walking_the_lifecycle() -> None:
    order = ["queued", "sent", "delivered", "read"]

    ranks = [MESSAGE_STATUS_RANK[s] for s in order]

    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)


def test_failed_outranks_every_status_when_compared() -> None:
    # A late `sent` must never hide a failure
    assert all(
        MESSAGE_STATUS_RANK["failed"] > rank
        for status, rank in MESSAGE_STATUS_RANK.items()
        if status != "failed"
    )


def test_unknown_has_no_rank_when_poller_gives_up() -> None:
    # It keeps the rank the message had, so any real status that turns up later applies
    assert UNKNOWN not in MESSAGE_STATUS_RANK


def test_every_wire_status_has_a_rank_when_provider_reports_it() -> None:
    assert {"sent", "delivered", "read", "failed"} <= MESSAGE_STATUS_RANK.keys()


def test_lead_status_rank_moves_forward_when_walking_the_lifecycle() -> None:
    order = [LEAD_NEW, LEAD_AUTO_REPLIED, LEAD_IN_PROGRESS, LEAD_WINDOW_CLOSED, LEAD_UNREACHABLE]

    assert [LEAD_STATUS_RANK[s] for s in order] == [0, 1, 2, 3, 4]
