"""Validation of user-supplied parameters (package calls, CLI flags, notebook parameter cells).

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, outside
what is allowed) with a message of the form ``alpha == 1.2, must be in (0, 1)``: the parameter's
name, the value received and what is allowed. Values are never clipped or coerced silently;
the only conversion is an integer given where a real number is expected (``1`` -> ``1.0``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import fields
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PLACEHOLDER_IDS",
    "check_choice",
    "check_integer",
    "check_number",
    "check_probability",
    "check_text",
    "check_time_zone",
    "is_missing_id",
    "load_yaml",
    "notebook_parameters",
    "notebook_values",
    "odd_id_sql",
    "parse_until",
    "settings_table",
    "shorten",
    "unknown_names",
    "visible_id",
]

T = TypeVar("T")

# Names IPython adds to a kernel's namespace on its own while cells run (_, __, _i3, _5, _ih ...).
_IPYTHON_CACHE_NAME = re.compile(r"^(_+|_i+|_i\d+|_\d+|_ih|_oh|_dh|In|Out)$")


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = False,
    high_inclusive: bool = False,
) -> float:
    """Return ``value`` as a float after checking that it is a finite real number in range.

    Args:
        name: the parameter's name, used in the error message.
        value: what the user gave. ``bool`` and strings are refused, not parsed.
        low, high: bounds; ``None`` leaves that side open.
        low_inclusive, high_inclusive: whether the bound itself is allowed.

    Raises:
        TypeError: ``value`` is not a real number (a string, a bool, None, ...).
        ValueError: ``value`` is NaN, infinite or outside the bounds.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} == {_describe(value)}, must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} == {value!r}, must be a finite number")
    below = low is not None and (number < low if low_inclusive else number <= low)
    above = high is not None and (number > high if high_inclusive else number >= high)
    if below or above:
        left = "-inf" if low is None else f"{low:g}"
        right = "inf" if high is None else f"{high:g}"
        interval = (
            ("[" if low_inclusive else "(") + f"{left}, {right}" + ("]" if high_inclusive else ")")
        )
        raise ValueError(f"{name} == {value!r}, must be in {interval}")
    return number


def check_probability(name: str, value: Any) -> float:
    """Check a share, rate or probability that must lie strictly inside (0, 1)."""
    return check_number(name, value, low=0.0, high=1.0)


def check_integer(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int after checking it is a whole number ``>= minimum``.

    A float with no fractional part (``1000.0``, as YAML or JSON may deliver) is accepted;
    ``1000.5`` is refused rather than rounded.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} == {_describe(value)}, must be an integer")
    if isinstance(value, Integral):
        whole = int(value)
    elif isinstance(value, Real) and math.isfinite(float(value)) and float(value).is_integer():
        whole = int(value)
    else:
        raise TypeError(f"{name} == {_describe(value)}, must be an integer")
    if minimum is not None and whole < minimum:
        raise ValueError(f"{name} == {value!r}, must be an integer >= {minimum}")
    return whole


def check_choice(name: str, value: Any, allowed: Collection[T]) -> T:
    """Check that ``value`` is one of ``allowed`` and return it."""
    if value not in allowed:
        options = ", ".join(repr(option) for option in allowed)
        raise ValueError(f"{name} == {value!r}, must be one of {options}")
    return value


def check_text(name: str, value: Any) -> str:
    """Check a non-empty string (after stripping whitespace) and return it unchanged."""
    if not isinstance(value, str):
        raise TypeError(f"{name} == {_describe(value)}, must be a string")
    if not value.strip():
        raise ValueError(f"{name} == {value!r}, must be a non-empty string")
    return value


# Ids that stand for a missing or shared one: every such row would be one "user" (pandas'
# "None" / "nan", JSON's "null", JavaScript's "undefined", spreadsheets' "N/A" and "#N/A", a
# dash, a zero default, an anonymous or guest account). Compared after trimming invisible
# characters, ignoring letter case.
PLACEHOLDER_IDS = (
    "none", "null", "nil", "nan", "undefined", "n/a", "na", "#n/a", "-", "--", "0",
    "anonymous", "anon", "unknown", "guest", "(null)", "<null>",
)  # fmt: skip
_PLACEHOLDERS = frozenset(PLACEHOLDER_IDS)
# Characters that cannot tell two ids apart: whitespace, control and format characters
# (no-break space, zero-width space and joiners, byte order mark, soft hyphen ...).
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def check_time_zone(name: str, value: Any) -> str:
    """An IANA time zone name (``UTC``, ``Europe/Paris``), checked against the zone database.

    >>> check_time_zone("timezone", "Europe/Paris")
    'Europe/Paris'
    >>> check_time_zone("timezone", "CEST")
    Traceback (most recent call last):
    ...
    ValueError: timezone == 'CEST', must be an IANA time zone name such as 'UTC' or 'Europe/Paris'
    """
    import zoneinfo

    check_text(name, value)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name} == {shorten(value)}, must be an IANA time zone name such as 'UTC' or "
            "'Europe/Paris'"
        ) from None
    return value


def _invisible(char: str) -> bool:
    import unicodedata

    return char.isspace() or unicodedata.category(char) in _INVISIBLE_CATEGORIES


def visible_id(text: str) -> str:
    """``text`` without invisible characters at either end (:data:`_INVISIBLE_CATEGORIES`)."""
    start, end = 0, len(text)
    while start < end and _invisible(text[start]):
        start += 1
    while end > start and _invisible(text[end - 1]):
        end -= 1
    return text[start:end]


def is_missing_id(text: str) -> bool:
    """The one id rule: an id is missing when nothing visible is left after trimming invisible
    characters (any Unicode whitespace, control or format character: a no-break or zero-width
    space is blank), or when what is left is a placeholder (:data:`PLACEHOLDER_IDS`, any letter
    case). The SQL pre-filter :func:`odd_id_sql` finds every such id on both engines.

    >>> [is_missing_id(t) for t in ("", " ", "\\u00a0", "\\u200b", "None", "N/A", "null ", "-")]
    [True, True, True, True, True, True, True, True]
    >>> [is_missing_id(t) for t in ("u1", " u1", "0x1", "nancy", "u\\u200b1")]
    [False, False, False, False, False]
    """
    visible = visible_id(text)
    return not visible or visible.casefold() in _PLACEHOLDERS


def odd_id_sql(column: str) -> str:
    """A SQL test (DuckDB, and Spark after transpiling) true for every id that
    :func:`is_missing_id` may refuse, and for few others: ids that start or end with a
    character below ``!`` or beyond ASCII, or that are short and spell a placeholder in some
    letter case. The engine counts these in its per-user pass and checks the rare match
    exactly in Python, so one rule decides on both engines.

    >>> odd_id_sql("uid")[:46]
    "(uid < '!' OR uid >= chr(127) OR right(uid, 1)"
    """
    longest = max(len(p) for p in PLACEHOLDER_IDS)
    listed = ", ".join(f"'{p}'" for p in PLACEHOLDER_IDS)
    return (
        f"({column} < '!' OR {column} >= chr(127) OR right({column}, 1) <= ' ' OR "
        f"right({column}, 1) >= chr(127) OR (length({column}) <= {longest} AND "
        f"lower({column}) IN ({listed})))"
    )


def unknown_names(given: Iterable[str], allowed: Collection[str]) -> list[str]:
    """Names in ``given`` that are not in ``allowed``, in the order given."""
    return [name for name in given if name not in allowed]


def notebook_parameters(
    namespace: Mapping[str, Any], names_before: Collection[str], settings_type: type[T]
) -> T:
    """A notebook's validated settings: ``settings_type`` built from :func:`notebook_values`."""
    return settings_type(**notebook_values(namespace, names_before, settings_type))


def notebook_values(
    namespace: Mapping[str, Any], names_before: Collection[str], settings_type: type
) -> dict[str, Any]:
    """The values a notebook's parameter cells defined, one per field of ``settings_type``.

    A template records ``names_before = set(globals())`` in the cell before its ``parameters``
    cell. Everything defined after that point (the defaults, plus whatever papermill injected)
    must be a field of ``settings_type``, a frozen dataclass whose ``__post_init__`` validates
    the values. papermill itself only warns about an unknown name; here it is an error, so a
    misspelt parameter never leaves the default silently in force.

    Raises:
        ValueError: a name that is not a parameter of the template, or a value out of range.
        TypeError: a value of the wrong type.
    """
    allowed = [field.name for field in fields(settings_type)]
    defined = [
        name
        for name, value in namespace.items()
        if name not in names_before
        and value is not names_before  # the snapshot itself
        and not _IPYTHON_CACHE_NAME.match(name)
        and not (name.startswith("__") and name.endswith("__"))  # __annotations__ and kin
    ]
    unknown = unknown_names(defined, allowed)
    if unknown:
        shown = ", ".join(f"{name} == {namespace[name]!r}" for name in unknown)
        raise ValueError(
            f"unknown parameter(s) {shown}; this template's parameters are: {', '.join(allowed)}"
        )
    missing = [name for name in allowed if name not in namespace]
    if missing:
        raise ValueError(f"parameter(s) {', '.join(missing)} not defined in the parameters cell")
    return {name: namespace[name] for name in allowed}


def parse_until(name: str, text: str) -> pd.Timestamp:
    """A look's cut-off, written in ISO 8601: a date means through its last second, a time as
    written; UTC unless the text names a zone. Other spellings (12/01/2026: December or
    January?) are refused.

    Examples:
        >>> str(parse_until("until", "2026-01-12"))
        '2026-01-12 23:59:59.999999+00:00'
        >>> str(parse_until("until", "2026-01-12T18:00+01:00"))
        '2026-01-12 18:00:00+01:00'
        >>> parse_until("until", "12/01/2026")
        Traceback (most recent call last):
        ...
        ValueError: until == '12/01/2026', must be an ISO 8601 date or time such as \
'2026-01-12' or '2026-01-12T18:00Z'
    """
    import datetime

    import pandas as pd

    written = str(text).strip()
    try:
        time = pd.Timestamp(datetime.datetime.fromisoformat(written))
    except ValueError:
        raise ValueError(
            f"{name} == {text!r}, must be an ISO 8601 date or time such as '2026-01-12' or "
            "'2026-01-12T18:00Z'"
        ) from None
    if time.tzinfo is None:
        time = time.tz_localize("UTC")
    if re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", written):  # a date alone: through its last second
        time = time + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return time


def shorten(value: Any, limit: int = 120) -> str:
    """``repr(value)`` cut to ``limit`` characters, so no message prints an unbounded value.

    >>> shorten("x" * 500, 12)
    "'xxxxxxxx..."
    """
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def load_yaml(text: str, where: str) -> Any:
    """Parse YAML strictly: a key written twice in one mapping is an error naming the key and
    its line (PyYAML keeps the last silently), and aliases (``*name``) are refused, so an
    alias-expanding file ("billion laughs") cannot blow up a value or a message.

    Raises:
        ValueError: naming ``where`` (the file), the line and the key.

    Examples:
        >>> load_yaml("split: 0.2\\nalpha: 0.05", "plan.yaml")
        {'split': 0.2, 'alpha': 0.05}
        >>> load_yaml("split: 0.2\\nsplit: 0.5", "plan.yaml")
        Traceback (most recent call last):
        ...
        ValueError: plan.yaml line 2: key 'split' is written twice (first on line 1); keep one
    """
    import yaml

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1
                raise ValueError(
                    f"{where} line {line}: YAML aliases (*{event.anchor}) are not allowed; "
                    "write the value out"
                )
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is None:
            return None
        _refuse_duplicate_keys(root, where)
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{where}: not valid YAML ({error})".replace("\n", " ")) from None


def read_yaml_file(path: str | Path, what: str) -> Any:
    """A YAML file parsed by :func:`load_yaml`, its errors naming ``what`` and the file
    (``prices file 'p.yaml': cannot be read (...)``).

    Raises:
        ValueError: the file cannot be read as UTF-8 text, or is not valid YAML.
    """
    where = f"{what} '{path}'"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{where}: cannot be read ({error})") from None
    return load_yaml(text, where)


def _refuse_duplicate_keys(node: Any, where: str) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in seen:
                    raise ValueError(
                        f"{where} line {line}: key {shorten(key.value, 60)} is written twice "
                        f"(first on line {seen[key.value]}); keep one"
                    )
                seen[key.value] = line
            _refuse_duplicate_keys(value, where)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(item, where)


def settings_table(settings: Any) -> pd.DataFrame:
    """A notebook's parameters as people read them: one row per field of its settings
    dataclass, the value as text. Only the fields: what the settings compute and cache (a
    plan, an estimate) stays out.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class S:
    ...     split: float = 0.2
    ...     plan_file: str = ""
    >>> settings_table(S())
              value
    split       0.2
    plan_file    ''
    """
    import pandas as pd

    values = {
        item.name: repr(value) if isinstance(value, str) else str(value)
        for item in fields(settings)
        for value in [getattr(settings, item.name)]
    }
    return pd.Series(values, name="value", dtype=object).to_frame()
