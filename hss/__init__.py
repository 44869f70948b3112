"""The HSS: a Diameter Cx server over a subscriber store (TS 29.228 / TS 29.229).

Module map:

- :mod:`hss.model`     subscriber, public identities, iFCs, registration states
- :mod:`hss.sqn`       SQN = SEQ ‖ IND arithmetic (TS 33.102 Annex C)
- :mod:`hss.store`     the :class:`~hss.store.base.Store` interface, SQLite and PostgreSQL
- :mod:`hss.userdata`  IMSSubscription XML (TS 29.228 Annex B, ``CxDataType.xsd`` beside it)
- :mod:`hss.vectors`   authentication vectors and AUTS resynchronisation
- :mod:`hss.cx`        one module per Cx procedure: answered (UAR, MAR, SAR, LIR) and
                       HSS-initiated (RTR, PPR)
- :mod:`hss.provision` subscriber building, demo seed, CSV/TOML import, SIPp injection CSV
- :mod:`hss.config`    ``config/hss.toml`` as dataclasses
- :mod:`hss.server`    the asyncio Diameter node with the Cx handlers (``ims-core hss``)
- :mod:`hss.pusher`    sends the RTRs/PPRs queued in the store's outbox to the S-CSCFs
- :mod:`hss.admin`     provisioning operations with side effects (the CLI and the API)
- :mod:`hss.api`       the provisioning REST API (``ims-core hss-api``)
- :mod:`hss.cli`       ``ims-core hss``, ``ims-core hss-api`` and ``ims-core subscriber …``
"""

# ims_core first: it decides whether this process runs the compiled build (ims_core/native.py)
# before any module of ours, compiled or not, is imported.
import ims_core  # noqa: F401
