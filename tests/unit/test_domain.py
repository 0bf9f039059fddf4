"""Pure domain rules: the window, the reply text, manager assignment, status order."""

from __future__ import annotations

import pytest
from session_reply.domain.managers import assign_manager
from session_reply.domain.reply import MAX_BODY_CHARS, first_name, render_reply
from session_reply.domain.status import (
    AUTHOR_AUTO,
    AUTHOR_CLIENT,
    AUTHOR_EXTERNAL,
    AUTHOR_MANAGER,
    AUTHOR_TEMPLATE,
    FINAL_MESSAGE_STATUSES,
    HUMAN_AUTHORS,
    LEAD_AUTO_REPLIED,
    LEAD_IN_PROGRESS,
    LEAD_NEW,
    LEAD_STATUS_RANK,
    LEAD_UNREACHABLE,
    LEAD_WINDOW_CLOSED,
    MESSAGE_STATUS_RANK,
    UNKNOWN,
)
from session_reply.domain.window import opens_new_session, window_expires_at, window_open
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


def test_new_session_opens_when_chat_has_no_earlier_client_message() -> None:
    assert opens_new_session(None, T0, DAY) is True


def test_new_session_opens_when_gap_is_longer_than_session_gap() -> None:
    assert opens_new_session(T0, T0 + DAY + 1, DAY) is True


def test_same_session_continues_when_gap_is_exactly_session_gap() -> None:
    assert opens_new_session(T0, T0 + DAY, DAY) is False


def test_same_session_continues_when_message_is_in_a_burst() -> None:
    assert opens_new_session(T0, T0 + 5, DAY) is False


def test_same_session_continues_when_message_arrives_out_of_order() -> None:
    # Given a webhook for an older message arriving after a newer one
    assert opens_new_session(T0, T0 - 30, DAY) is False


# -- reply ---------------------------------------------------------------------------------


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


MANAGERS = ["Anna", "Boris", "Carla"]


def test_assign_manager_is_stable_when_same_chat_asks_again() -> None:
    chat = "77011234567@c.us"

    assert {assign_manager(chat, MANAGERS) for _ in range(5)} == {assign_manager(chat, MANAGERS)}


def test_assign_manager_gives_the_same_pick_when_run_in_another_container() -> None:
    # Golden values: crc32, not hash(), so the pick survives PYTHONHASHSEED and redeploys
    assert assign_manager("77011234567@c.us", MANAGERS) == "Boris"
    assert assign_manager("79001234567@c.us", MANAGERS) == "Anna"


def test_assign_manager_uses_every_manager_when_many_chats_arrive() -> None:
    chats = [f"7900{n:07d}@c.us" for n in range(300)]

    assert {assign_manager(chat, MANAGERS) for chat in chats} == set(MANAGERS)


def test_assign_manager_keeps_current_manager_when_still_on_the_list() -> None:
    assert assign_manager("77011234567@c.us", MANAGERS, current="Carla") == "Carla"


def test_assign_manager_reassigns_when_current_manager_left_the_list() -> None:
    chat = "77011234567@c.us"

    assert assign_manager(chat, MANAGERS, current="Zed") == assign_manager(chat, MANAGERS)


def test_assign_manager_gives_generic_name_when_no_managers_are_configured() -> None:
    assert assign_manager("77011234567@c.us", []) == "Our manager"


def test_assign_manager_gives_the_only_manager_when_list_has_one() -> None:
    assert assign_manager("anything@c.us", ["Solo"]) == "Solo"


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


def test_final_statuses_are_read_and_failed_when_listed() -> None:
    assert frozenset({"read", "failed"}) == FINAL_MESSAGE_STATUSES


def test_unknown_has_no_rank_when_poller_gives_up() -> None:
    # It keeps the rank the message had, so any real status that turns up later applies
    assert UNKNOWN not in MESSAGE_STATUS_RANK


def test_every_wire_status_has_a_rank_when_provider_reports_it() -> None:
    assert {"sent", "delivered", "read", "failed"} <= MESSAGE_STATUS_RANK.keys()


def test_lead_status_rank_moves_forward_when_walking_the_lifecycle() -> None:
    order = [LEAD_NEW, LEAD_AUTO_REPLIED, LEAD_IN_PROGRESS, LEAD_WINDOW_CLOSED, LEAD_UNREACHABLE]

    assert [LEAD_STATUS_RANK[s] for s in order] == [0, 1, 2, 3, 4]


def test_only_managers_count_as_human_when_first_response_is_measured() -> None:
    assert frozenset({AUTHOR_MANAGER}) == HUMAN_AUTHORS
    assert not {AUTHOR_CLIENT, AUTHOR_AUTO, AUTHOR_TEMPLATE, AUTHOR_EXTERNAL} & HUMAN_AUTHORS
