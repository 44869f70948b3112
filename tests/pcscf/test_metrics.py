"""What the P-CSCF counts for an IMS-AKA registration (401 then 200) and what its gauges
read: registration records, their contacts, our reg-event subscriptions."""

from __future__ import annotations

from ims_core.metrics import SipMetrics

from .messages import UE, Harness


def gauges(metrics: SipMetrics) -> tuple[float, float, float]:
    return (metrics.registrations_active.value(), metrics.contacts_active.value(),
            metrics.reg_subscriptions_active.value())


def test_a_registration_through_the_pcscf() -> None:
    h = Harness()
    m = h.core.metrics
    assert gauges(m) == (0, 0, 0)
    assert h.register().status == 200
    assert m.requests_received.values == {("REGISTER",): 2}
    assert m.requests_sent.values == {("REGISTER",): 2, ("SUBSCRIBE",): 1}  # §5.2.3
    assert m.responses_received.values == {("REGISTER", "4xx"): 1, ("REGISTER", "2xx"): 1}
    assert m.responses_sent.values == {("REGISTER", "4xx"): 1, ("REGISTER", "2xx"): 1}
    assert m.transaction_seconds.count("REGISTER") == 2
    assert gauges(m) == (1, 1, 1)
    assert h.register(ue=(UE[0], UE[1] + 1), user="other", call_id="reg-2@ue").status == 200
    assert gauges(m) == (2, 2, 1)  # one identity over two flows: one subscription
    h.advance(700.0)  # the registrations lapse, taking the subscription along
    assert gauges(m) == (0, 0, 0)


def test_the_gauges_follow_a_metrics_set_assigned_later() -> None:
    h = Harness()
    h.register()
    metrics = SipMetrics.create()
    h.core.metrics = metrics
    assert gauges(metrics) == (1, 1, 1)
    # Both REGISTERs (in Completed until Timer K) and the SUBSCRIBE (unanswered here).
    assert metrics.transactions_active.value("non_invite_client") == 3
