"""The throwaway PostgreSQL server of the HSS store tests, for the HSS kill test."""

from tests.hss.conftest import pg_dsn

__all__ = ["pg_dsn"]
