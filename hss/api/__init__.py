"""The HSS provisioning REST API: FastAPI on uvicorn, JSON under ``/api/v1``, its OpenAPI
document at ``/openapi.json``.

How it fits (decided, and why):

- **A process of its own**, ``ims-core hss-api -c config/hss.toml`` (:mod:`.process`),
  sharing the HSS's store (SQLite in WAL mode, or PostgreSQL). Keeping HTTP off the
  Diameter process keeps the Cx loop's latency free of API work.
- **Changes reach Cx at once**: the Cx handlers read the store per request, and the
  SQLite store's per-connection cache is dropped when ``PRAGMA data_version`` says another
  connection committed (:mod:`hss.store.cache`).
- **RTR and PPR go through the outbox** (:meth:`hss.store.Store.queue_push`), which the
  running HSS sends within ``[push] poll_seconds`` (0.2 s) — exactly what ``ims-core
  subscriber`` does. Both use :mod:`hss.admin`, the one home of the operations with side
  effects (delete = RTR then delete, deregister = RTR, a profile change of a registered
  subscriber = PPR, add, SQN reset, …); the routes translate HTTP to those calls and
  typed results back (:mod:`.subscribers`, :mod:`.actions`).
- **Security**: ``[api] host`` is loopback unless configured; every ``/api/v1`` request
  needs ``X-API-Key`` (``[api] api_key``, else a key generated at the first start into
  ``<data_dir>/api-key``, mode 0600, shown once), compared in constant time, checked
  before routing or parsing (:mod:`.guard`): 401 "unauthorized" and nothing more. Bodies
  are bounded (256 KiB) and validated by pydantic (:mod:`.schemas`, whose IMSI, MSISDN
  and hex rules are :mod:`hss.model`'s); K, OP and OPc are write-only. ``/healthz`` and
  ``/readyz`` (the store answers) need no key.
- **Errors** (:mod:`.errors`): 404 unknown, 409 duplicate or clash, 422 bad input, 503 store
  unreachable; never a traceback.
"""

from hss.api.app import create_app

__all__ = ["create_app"]
