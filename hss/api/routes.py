"""What the routes declare, looked up per request: the methods of a path (for the
``Allow`` of a 405) and the query parameters of an operation (anything else is refused).

Starlette names in ``Allow`` only the methods of the first route whose path matches, and
FastAPI has one route per method; and FastAPI ignores undeclared query parameters, so a
mistyped filter (``?imsiprefix=``) would list everything. Both answers are worked out
here from the routers, once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fastapi import APIRouter, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.routing import compile_path


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


class RouteTable:
    """The API's operations: (path pattern, method) → declared query parameters."""

    def __init__(self, routers: Iterable[tuple[str, APIRouter]]) -> None:
        self._ops: list[tuple[re.Pattern[str], str, frozenset[str]]] = []
        for prefix, router in routers:
            for route in router.routes:
                if isinstance(route, APIRoute):
                    regex, _, _ = compile_path(prefix + route.path)
                    query = frozenset(_query_names(route.dependant))
                    self._ops += [(regex, method, query) for method in route.methods or ()]

    def allowed(self, path: str) -> list[str]:
        """Every method *path* takes (RFC 9110 §15.5.6), sorted; [] for an unknown path."""
        return sorted({method for regex, method, _ in self._ops if regex.match(path)})

    def query(self, path: str, method: str) -> frozenset[str]:
        for regex, m, names in self._ops:
            if m == method and regex.match(path):
                return names
        return frozenset()


def known_query(request: Request) -> None:
    """A dependency: 422 for a query parameter the operation does not declare."""
    table: RouteTable = request.app.state.routes
    unknown = sorted(set(request.query_params) - table.query(request.url.path, request.method))
    if unknown:
        raise RequestValidationError([
            {"type": "extra_forbidden", "loc": ("query", name),
             "msg": "unknown query parameter", "input": request.query_params[name]}
            for name in unknown
        ])  # fmt: skip
