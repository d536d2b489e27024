"""Argument types shared by the commands: numbers, whole numbers, a column map."""

from __future__ import annotations

import argparse

__all__ = [
    "column_map_arg",
    "number",
    "whole",
]


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def column_map_arg(text: str) -> dict[str, str]:
    pairs = [p for p in text.split(",") if p.strip()]
    mapping = {}
    for pair in pairs:
        if pair.count("=") != 1 or not all(part.strip() for part in pair.split("=")):
            raise argparse.ArgumentTypeError(
                f"{pair!r} is not YOURS=SCHEMA (e.g. customer_id=user_id)"
            )
        yours, schema = (part.strip() for part in pair.split("="))
        mapping[yours] = schema
    return mapping
