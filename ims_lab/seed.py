"""Demo subscribers into an HSS store, and the SIPp injection file for what it holds."""

from __future__ import annotations

from collections.abc import Iterable

from hss import provision
from hss.config import HssConfig
from hss.model import Subscriber
from hss.store import open_store


def seed_demo(cfg: HssConfig, count: int, *, extra: Iterable[Subscriber] = (),
              csv_count: int | None = None) -> tuple[int, str]:
    """Add ``count`` demo subscribers (see :mod:`hss.provision`) and ``extra`` to the
    store of ``cfg`` when it is empty; a store that holds subscribers is left alone.
    Returns (subscribers added, ``ims-core subscriber sipp-csv`` text for the store, at
    most ``csv_count`` rows). Raises :class:`hss.store.StoreError`."""
    store = open_store(cfg.store, data_dir=cfg.data_dir, ind_bits=cfg.cx.ind_bits)
    try:
        seeded = store.seed([*provision.demo_subscribers(count, cfg.cx.domain), *extra])
        text, _ = provision.sipp_csv(store.subscribers(), csv_count)
    finally:
        store.close()
    return seeded, text
