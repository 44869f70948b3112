"""Enough of PromQL to check the dashboard's expressions without a Prometheus: a lexer
(Prometheus docs, "Querying basics": strings, numbers, durations, identifiers, operators)
with Grafana's template variables (``$node``, ``${node}``, ``$__rate_interval``), and a
walk that checks brackets, label matchers, range selectors and function names and
returns what the expression reads: its series selectors (the metric, its matchers, the
function calls around it) and the label names it groups by.

It is not a full parser (operator precedence and operand order are not checked); what it
finds is exact: every metric name an expression reads is in :attr:`Parsed.selectors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["AGGREGATIONS", "FUNCTIONS", "Parsed", "PromQLError", "Selector", "parse",
           "tokenize"]


class PromQLError(ValueError):
    """The expression does not lex or its brackets, matchers or ranges are malformed."""


# Prometheus 2.x functions (docs "Query functions") and aggregation operators.
FUNCTIONS = frozenset((
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
    "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
    "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count",
    "histogram_fraction", "histogram_quantile", "histogram_stddev", "histogram_stdvar",
    "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate", "label_join",
    "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time",
    "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
    "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar",
    "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt",
    "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time",
    "timestamp", "vector", "year",
))  # fmt: skip
AGGREGATIONS = frozenset((
    "avg", "bottomk", "count", "count_values", "group", "limit_ratio", "limitk", "max", "min",
    "quantile", "stddev", "stdvar", "sum", "topk",
))  # fmt: skip
GROUPING = frozenset(("by", "without", "on", "ignoring", "group_left", "group_right"))
KEYWORDS = frozenset(("and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"))
MATCH_OPS = frozenset(("=", "!=", "=~", "!~"))

_TOKEN = re.compile(r"""
  (?P<ws>\s+)
| (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
| (?P<var>\$\{[A-Za-z_]\w*(?::\w+)?\}|\$[A-Za-z_]\w*|\[\[[A-Za-z_]\w*\]\])
| (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+(?![\w.]))
| (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
| (?P<ident>[A-Za-z_][\w:]*)
| (?P<op>=~|!~|==|!=|<=|>=|[-+*/%^<>=,(){}\[\]:@])
""", re.VERBOSE)

Token = tuple[str, str]  # (kind, text)


def tokenize(expr: str) -> list[Token]:
    """The tokens of ``expr`` without whitespace; anything else is an error naming the
    offset."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise PromQLError(f"cannot lex {expr[pos:pos + 20]!r} at offset {pos} of {expr!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, m.group()))
        pos = m.end()
    return tokens


@dataclass
class Selector:
    """One series selector: ``metric{label op "value", ...}[range]``."""

    metric: str
    matchers: dict[str, tuple[str, str]] = field(default_factory=dict)  # label: (op, value)
    functions: tuple[str, ...] = ()  # calls around it, outermost first
    ranged: bool = False


@dataclass
class Parsed:
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)  # by / without / on / ignoring / group_*
    functions: list[str] = field(default_factory=list)


class _Walk:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = tokenize(expr)
        self.i = 0
        self.calls: list[str | None] = []  # one per open "(": the function, or None
        self.out = Parsed()

    def peek(self, ahead: int = 0) -> Token:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else ("end", "")

    def take(self, kind: str, text: str | None = None) -> str:
        got = self.peek()
        if got[0] != kind or (text is not None and got[1] != text):
            want = text or kind
            raise PromQLError(f"expected {want!r}, got {got[1] or 'the end'!r} in {self.expr!r}")
        self.i += 1
        return got[1]

    def run(self) -> Parsed:
        while self.peek()[0] != "end":
            self.step()
        if self.calls:
            raise PromQLError(f"unclosed '(' in {self.expr!r}")
        return self.out

    def step(self) -> None:
        kind, text = self.peek()
        if kind == "ident":
            self.ident(text)
        elif (kind, text) == ("op", "("):
            self.i += 1
            self.calls.append(None)
        elif (kind, text) == ("op", ")"):
            if not self.calls:
                raise PromQLError(f"unbalanced ')' in {self.expr!r}")
            self.i += 1
            self.calls.pop()
        elif (kind, text) == ("op", "{"):
            self.selector("")  # {__name__=~"..."}: no metric name to check
        elif kind == "op" and text in "}[]":
            raise PromQLError(f"unexpected {text!r} in {self.expr!r}")
        elif kind == "duration":
            raise PromQLError(f"duration {text!r} outside a range or offset in {self.expr!r}")
        elif kind == "var":
            raise PromQLError(f"template variable {text} outside a string, range or offset "
                              f"in {self.expr!r}")
        else:  # numbers, strings (function arguments), operators
            self.i += 1

    def ident(self, name: str) -> None:
        if name in GROUPING:
            self.i += 1
            if self.peek() == ("op", "("):  # group_left / group_right may omit the list
                self.labels()
            return
        if name.lower() in KEYWORDS:
            self.i += 1
            if name == "offset":
                self.range_part()
            return
        if name in AGGREGATIONS and self.peek(1) in (("ident", "by"), ("ident", "without")):
            # sum by (labels) (expr): the grouping comes before the call's "("
            self.out.functions.append(name)
            self.i += 2
            self.labels()
            self.take("op", "(")
            self.calls.append(name)
            return
        if self.peek(1) == ("op", "("):
            if name not in FUNCTIONS and name not in AGGREGATIONS:
                raise PromQLError(f"unknown function {name!r} in {self.expr!r}")
            self.out.functions.append(name)
            self.calls.append(name)
            self.i += 2
            return
        self.selector(name)

    def labels(self) -> None:
        """``(label, ...)`` after by / without / on / ignoring / group_*."""
        self.take("op", "(")
        while self.peek() != ("op", ")"):
            self.out.grouping.add(self.take("ident"))
            if self.peek() == ("op", ","):
                self.i += 1
            elif self.peek() != ("op", ")"):
                raise PromQLError(f"expected ',' or ')' in a label list of {self.expr!r}")
        self.i += 1

    def selector(self, metric: str) -> None:
        sel = Selector(metric, functions=tuple(c for c in self.calls if c is not None))
        if metric:
            self.i += 1
        if self.peek() == ("op", "{"):
            self.i += 1
            while self.peek() != ("op", "}"):
                label = self.take("ident")
                op = self.take("op")
                if op not in MATCH_OPS:
                    raise PromQLError(f"{op!r} is no label match operator in {self.expr!r}")
                sel.matchers[label] = (op, self.take("string")[1:-1])
                if self.peek() == ("op", ","):
                    self.i += 1
                elif self.peek() != ("op", "}"):
                    raise PromQLError(f"expected ',' or '}}' in a selector of {self.expr!r}")
            self.i += 1
        if not metric and not sel.matchers:
            raise PromQLError(f"empty selector '{{}}' in {self.expr!r}")
        if self.peek() == ("op", "["):
            self.i += 1
            self.range_part()
            if self.peek() == ("op", ":"):  # subquery step (optional)
                self.i += 1
                if self.peek()[0] in ("duration", "var"):
                    self.i += 1
            self.take("op", "]")
            sel.ranged = True
        self.out.selectors.append(sel)

    def range_part(self) -> None:
        """A duration (of a range or an offset), or a template variable holding one."""
        if self.peek()[0] not in ("duration", "var"):
            raise PromQLError(f"expected a duration, got {self.peek()[1] or 'the end'!r} "
                              f"in {self.expr!r}")
        self.i += 1


def parse(expr: str) -> Parsed:
    """What ``expr`` reads; :class:`PromQLError` when it is malformed."""
    if not expr.strip():
        raise PromQLError("empty expression")
    return _Walk(expr).run()
