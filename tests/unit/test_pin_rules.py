"""Leaders' kiosk PINs as pure rules: the format, trivially weak PINs, the wrong-PIN count of a session."""

from __future__ import annotations

import pytest

from kiosk.domain.pins import PinPolicy, after_wrong_pin, format_problem, new_pin_problem, weakness


@pytest.mark.parametrize("pin", ["2580", "13579", "480271", "0042"])
def test_a_pin_is_four_to_six_digits(pin):
    assert format_problem(pin) is None


@pytest.mark.parametrize("pin", ["", "258", "1234567", "25a0", " 2580", "2580\n", "２５８０", "٢٥٨٠", "25.0"])
def test_anything_else_is_not_a_pin(pin):
    assert format_problem(pin) == "a PIN is 4 to 6 digits"


@pytest.mark.parametrize("pin", ["0000", "7777", "99999", "111111"])
def test_the_same_digit_throughout_is_too_weak(pin):
    assert "repeats" in weakness(pin)


@pytest.mark.parametrize("pin", ["1234", "3456", "7890", "9012", "12345", "123456", "9876", "3210", "543210", "0987"])
def test_a_straight_run_up_or_down_is_too_weak(pin):
    assert "straight run" in weakness(pin)


@pytest.mark.parametrize("pin", ["1212", "6969", "121212", "123123", "007007"])
def test_a_repeated_block_of_two_or_three_digits_is_too_weak(pin):
    assert "repeats" in weakness(pin)


def test_part_of_the_employee_number_shown_on_screen_is_too_weak():
    assert "employee number" in weakness("0001", "10001")
    assert "employee number" in weakness("10001", "10001")
    assert weakness("0001", "20001") is not None and weakness("4826", "20001") is None


@pytest.mark.parametrize("pin", ["2580", "1357", "2468", "1231", "12312", "135792", "4826", "0451"])
def test_other_pins_are_accepted_the_demo_pin_among_them(pin):
    assert new_pin_problem(pin, "10001") is None


def test_a_new_pin_is_checked_for_its_format_before_its_weakness():
    assert new_pin_problem("12", "10001") == "a PIN is 4 to 6 digits"
    assert new_pin_problem("1111", "10001") is not None


def test_each_wrong_pin_counts_and_says_how_many_tries_are_left():
    policy = PinPolicy(max_failures=5)
    first = after_wrong_pin(0, policy)
    assert (first.failures, first.remaining, first.ends_session) == (1, 4, False)
    fourth = after_wrong_pin(3, policy)
    assert (fourth.failures, fourth.remaining, fourth.ends_session) == (4, 1, False)


def test_the_fifth_wrong_pin_ends_the_session():
    fifth = after_wrong_pin(4, PinPolicy(max_failures=5))
    assert (fifth.failures, fifth.remaining, fifth.ends_session) == (5, 0, True)


def test_the_allowance_is_configurable_down_to_one_try():
    assert after_wrong_pin(0, PinPolicy(max_failures=1)).ends_session
    assert not after_wrong_pin(1, PinPolicy(max_failures=3)).ends_session
    with pytest.raises(ValueError):
        PinPolicy(max_failures=0)
