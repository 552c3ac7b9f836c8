"""The answer of a ListOps Source text, computed by parsing the text alone (the check on every generated label).

The text is whitespace-separated tokens: `(` and `)` (the release's bracketing of subtrees, checked for balance and
otherwise ignored), operators `[MIN`, `[MAX`, `[MED`, `[SM` that open a list, `]` that closes the innermost open
list, and digits `0`-`9`. An operator applies to the values of its list: MIN and MAX as named, MED the median
rounded down (the mean of the two middle values, rounded down, for an even count), SM the sum modulo 10. The text is
one expression: a digit or an operator with its list.

This module shares no code with the generator (`listops_generate.py`): it reads only the text, so a generator whose
values, rendering or bracketing went wrong is caught here.
"""

from __future__ import annotations

from collections.abc import Callable


class ListOpsSyntaxError(ValueError):
    """A Source text that is not one well-formed ListOps expression; the message names the token and its index."""


def _minimum(values: list[int]) -> int:
    return min(values)


def _maximum(values: list[int]) -> int:
    return max(values)


def _median_rounded_down(values: list[int]) -> int:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2


def _sum_modulo_10(values: list[int]) -> int:
    return sum(values) % 10


OPERATIONS: dict[str, Callable[[list[int]], int]] = {
    "[MIN": _minimum,
    "[MAX": _maximum,
    "[MED": _median_rounded_down,
    "[SM": _sum_modulo_10,
}
DIGITS = {str(digit): digit for digit in range(10)}


def evaluate_source(source: str) -> int:
    """The value (0-9) of the ListOps expression `source`; `ListOpsSyntaxError` when it is not one expression."""
    open_operators: list[str] = []  # innermost last
    open_values: list[list[int]] = []  # the values read so far in each open list
    parenthesis_depth = 0
    result: int | None = None
    for index, token in enumerate(source.split()):
        if token == "(":
            parenthesis_depth += 1
            continue
        if token == ")":
            parenthesis_depth -= 1
            if parenthesis_depth < 0:
                raise ListOpsSyntaxError(f"token {index} ')' closes a parenthesis that was never opened")
            continue
        if result is not None:
            raise ListOpsSyntaxError(f"token {index} {token!r} follows the end of the expression")
        if token in OPERATIONS:
            open_operators.append(token)
            open_values.append([])
            continue
        if token == "]":
            if not open_operators:
                raise ListOpsSyntaxError(f"token {index} ']' closes a list that was never opened")
            values = open_values.pop()
            if not values:
                raise ListOpsSyntaxError(f"token {index} ']' closes an empty {open_operators[-1]} list")
            value = OPERATIONS[open_operators.pop()](values)
        elif token in DIGITS:
            value = DIGITS[token]
        else:
            raise ListOpsSyntaxError(f"token {index} {token!r} is neither a digit, an operator, ']', '(' nor ')'")
        if open_values:
            open_values[-1].append(value)
        else:
            result = value
    if open_operators:
        raise ListOpsSyntaxError(f"the text ends inside {len(open_operators)} open list(s), innermost "
                                 f"{open_operators[-1]}")
    if parenthesis_depth:
        raise ListOpsSyntaxError(f"the text ends with {parenthesis_depth} parenthesis(es) left open")
    if result is None:
        raise ListOpsSyntaxError("the text holds no expression")
    return result
