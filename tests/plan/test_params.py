"""abkit.core.params: messages name the parameter, the value and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from abkit.core.params import (
    check_choice,
    check_integer,
    check_number,
    check_probability,
    check_text,
    notebook_parameters,
)


def test_number_accepts_ints_and_floats_unchanged() -> None:
    assert check_number("x", 3) == 3.0
    assert check_number("x", 0.25, low=0, high=1) == 0.25
    assert check_number("x", 0, low=0, low_inclusive=True) == 0.0


@pytest.mark.parametrize(
    ("value", "error", "pattern"),
    [
        ("0.5", TypeError, r"^p == '0.5' \(str\), must be a number$"),
        (None, TypeError, r"^p == None \(NoneType\), must be a number$"),
        (True, TypeError, r"^p == True \(bool\), must be a number$"),
        (float("inf"), ValueError, r"^p == inf, must be a finite number$"),
        (1.0, ValueError, r"^p == 1.0, must be in \(0, 1\)$"),
        (-0.1, ValueError, r"^p == -0.1, must be in \(0, 1\)$"),
    ],
)
def test_probability_refuses(value: object, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        check_probability("p", value)


def test_integer_accepts_whole_floats_and_refuses_fractions() -> None:
    assert check_integer("n", 1000.0) == 1000
    with pytest.raises(TypeError, match=r"n == 10.5 \(float\), must be an integer"):
        check_integer("n", 10.5)
    with pytest.raises(ValueError, match=r"n == 0, must be an integer >= 1"):
        check_integer("n", 0, minimum=1)


def test_choice_and_text() -> None:
    assert check_choice("kind", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"kind == 'c', must be one of 'a', 'b'"):
        check_choice("kind", "c", ("a", "b"))
    with pytest.raises(ValueError, match=r"name == '  ', must be a non-empty string"):
        check_text("name", "  ")
    with pytest.raises(TypeError, match=r"name == 3 \(int\), must be a string"):
        check_text("name", 3)


@dataclass(frozen=True)
class _Settings:
    rate: float
    label: str

    def __post_init__(self) -> None:
        check_probability("rate", self.rate)


def test_notebook_parameters_builds_settings_and_refuses_unknown_names() -> None:
    names_before = {"pd", "np"}
    namespace = {
        "pd": 1,
        "np": 2,
        "names_before": names_before,
        "_i3": "",
        "_5": 1,
        "__annotations__": {},
        "rate": 0.3,
        "label": "x",
    }
    assert notebook_parameters(namespace, names_before, _Settings) == _Settings(0.3, "x")
    with pytest.raises(
        ValueError,
        match=r"unknown parameter\(s\) raet == 0.4; this template's "
        r"parameters are: rate, label",
    ):
        notebook_parameters({**namespace, "raet": 0.4}, names_before, _Settings)
    with pytest.raises(ValueError, match=r"rate == 1.5, must be in \(0, 1\)"):
        notebook_parameters({**namespace, "rate": 1.5}, names_before, _Settings)
    without_label = {k: v for k, v in namespace.items() if k != "label"}
    with pytest.raises(ValueError, match=r"parameter\(s\) label not defined"):
        notebook_parameters(without_label, names_before, _Settings)
