"""Label values of the metric families: SIP methods and status classes."""

from __future__ import annotations

from ims_core.metrics import method_label, status_class


def test_status_class_for_every_code_and_beyond() -> None:
    assert [status_class(s) for s in (100, 180, 200, 302, 404, 503, 699)] == [
        "1xx", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx"]
    assert status_class(0) == "0xx" and status_class(999) == "9xx"
    assert status_class(1000) == "10xx"  # no such code; still a class, not an error


def test_method_label_bounds_the_methods() -> None:
    assert method_label("REGISTER") == "REGISTER" and method_label("FOO") == "other"
