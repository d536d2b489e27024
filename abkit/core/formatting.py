"""Numbers for people: p-values and effects with their intervals, as tables and memos print them.

One place for these rules so the decision's reasons, the memo and the CLI agree:

- p-values: two significant digits down to 0.001 (``0.031``), then scientific (``2.1e-9``),
  and ``< 1e-16`` below what double precision resolves;
- an effect and its confidence interval share one number of decimals, chosen to show two
  significant digits of the interval's half-width: ``+3.1 pp [+0.8, +5.4]``; a minus sign is
  U+2212.
"""

from __future__ import annotations

import math

__all__ = ["MINUS", "P_FLOOR", "format_interval", "format_p", "p_phrase"]

P_FLOOR = 1e-16
MINUS = "\u2212"


def format_p(p: float) -> str:
    """A p-value for people: two significant digits, scientific below 0.001, a floor at 1e-16.

    Examples:
        >>> [format_p(p) for p in (0.4123, 0.0312, 0.00123, 2.1e-9, 1e-300, float("nan"))]
        ['0.41', '0.031', '0.0012', '2.1e-9', '< 1e-16', '–']
    """
    if not math.isfinite(p):
        return "–"
    if p < P_FLOOR:
        return "< 1e-16"
    if p < 1e-3:
        mantissa, exponent = f"{p:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{p:.2g}"


def p_phrase(p: float, name: str = "p") -> str:
    """``p = 0.031`` or ``p < 1e-16``."""
    text = format_p(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


def _signed(value: float, decimals: int) -> str:
    text = f"{abs(value):,.{decimals}f}"
    if float(text.replace(",", "")) == 0:
        return text
    return ("+" if value > 0 else MINUS) + text


def _decimals(width: float) -> int:
    """Decimals that show two significant digits of ``width`` (at most 6)."""
    if not math.isfinite(width) or width <= 0:
        return 2
    return int(min(6, max(0, 1 - math.floor(math.log10(width)))))


def format_interval(estimate: float, low: float, high: float, unit: str = "") -> str:
    """``+3.1 pp [+0.8, +5.4]``: signed, decimals from the interval's half-width.

    Examples:
        >>> format_interval(3.1234, 0.812, 5.43, "pp")
        '+3.1 pp [+0.8, +5.4]'
        >>> format_interval(-35.2, -47.9, -22.4, "ms")
        '−35 ms [−48, −22]'
        >>> format_interval(0.02, float("nan"), float("nan"))
        '+0.020'
    """
    if not math.isfinite(estimate):
        return "–"
    suffix = f" {unit}" if unit else ""
    if not (math.isfinite(low) and math.isfinite(high)):
        return _signed(estimate, _decimals(abs(estimate))) + suffix
    decimals = _decimals((high - low) / 2)
    return (
        f"{_signed(estimate, decimals)}{suffix} "
        f"[{_signed(low, decimals)}, {_signed(high, decimals)}]"
    )
