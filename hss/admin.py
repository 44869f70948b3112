"""Provisioning operations with side effects: one home for them, used by ``ims-core
subscriber`` (:mod:`hss.cli`) and the REST API (:mod:`hss.api`).

Each is a plain blocking function on a :class:`~hss.store.Store`: it returns a typed
result or raises a typed error (:class:`NotFound`, :class:`Conflict`, :class:`NotRoutable`;
bad input is :class:`hss.provision.ProvisionError`), and never prints. The rules they keep:

- deleting a registered subscriber queues the RTR first (Deregistration-Reason
  PERMANENT_TERMINATION, TS 29.229 §6.3.17), then deletes: the queued RTR carries all it
  needs and goes out afterwards;
- a change of the service profile of a subscriber an S-CSCF holds queues a PPR with the
  profile as stored when it is sent (TS 29.228 §6.2.2);
- RTR and PPR go through the store's outbox, which the running HSS sends (``[push]``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable

from hss.cx import ppr, rtr
from hss.cx.push import Unroutable
from hss.model import Push, Subscriber
from hss.provision import UnknownIdentity
from hss.store import DuplicateError, Store, UnknownSubscriber

POLL_SECONDS = 0.05  # how often a waiter looks at a queued push


class AdminError(Exception):
    """An operation that cannot be done; the message says why, for people."""


class NotFound(AdminError):
    """No such subscriber (or push)."""


class Conflict(AdminError):
    """The change clashes with what is stored: an IMSI, IMPI or IMPU provisioned already."""


class NotRoutable(AdminError):
    """An S-CSCF holds the subscriber but its Diameter host is unknown: nothing can be
    sent to it (see :class:`hss.cx.push.Unroutable`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Deleted:
    """A deletion: the RTR queued for it (``push.id`` set), or None when no S-CSCF held
    the subscriber, or ``not_sent`` saying why none could be sent."""

    imsi: str
    push: Push | None = None
    not_sent: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileChange:
    """A profile change: the subscriber as stored afterwards, whether anything changed,
    and the PPR queued for it (None when no S-CSCF holds it, or ``not_sent`` says why
    none could be sent: the change is stored all the same)."""

    subscriber: Subscriber
    changed: bool
    push: Push | None = None
    not_sent: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SqnReset:
    imsi: str
    previous: int
    sqn: int


def get(store: Store, imsi: str) -> Subscriber:
    sub = store.get(imsi)
    if sub is None:
        raise NotFound(f"no subscriber {imsi}")
    return sub


def add(store: Store, sub: Subscriber, *, replace: bool = False) -> Subscriber:
    """Provision *sub* (:func:`hss.provision.new_subscriber` builds one)."""
    try:
        store.add([sub], replace=replace)
    except DuplicateError:
        raise Conflict(f"subscriber {sub.imsi} (or one of its identities) already exists") \
            from None
    return sub


def _queue(store: Store, push: Push, now: float) -> Push:
    return dataclasses.replace(push, id=store.queue_push(push, now))


def delete(store: Store, imsi: str, now: float) -> Deleted:
    """Delete *imsi*, queueing the RTR first when an S-CSCF holds it."""
    sub = get(store, imsi)
    try:
        push = rtr.new_push(sub, rtr.ReasonCode.PERMANENT_TERMINATION)
        not_sent = None
    except Unroutable as exc:
        push, not_sent = None, str(exc)
    queued = _queue(store, push, now) if push is not None else None
    if not store.delete(imsi):
        raise NotFound(f"no subscriber {imsi}")
    return Deleted(imsi, queued, not_sent)


def deregister(store: Store, imsi: str, reason: rtr.ReasonCode, now: float, *,
               info: str | None = None, impus: Iterable[str] = ()) -> Push | None:
    """Network-initiated de-registration (TS 29.228 §6.1.3): the RTR queued, or None when
    no S-CSCF holds the subscriber. *impus* asks for the IMPU-list form."""
    sub = get(store, imsi)
    try:
        push = rtr.new_push(sub, reason, info, impus)
    except Unroutable as exc:
        raise NotRoutable(str(exc)) from None
    except ValueError as exc:  # an IMPU that is not the subscriber's
        raise UnknownIdentity(str(exc)) from None
    return None if push is None else _queue(store, push, now)


def change_profile(store: Store, imsi: str, edit: Callable[[Subscriber], Subscriber],
                   now: float) -> ProfileChange:
    """Store ``edit(subscriber)``'s service profile (:meth:`Store.update_profile`) and
    queue the PPR when an S-CSCF holds the subscriber. *edit* raises
    :class:`~hss.provision.ProvisionError` for a change it refuses
    (:func:`hss.provision.updated` is the usual one)."""
    sub = get(store, imsi)
    new = edit(sub)
    if new == sub:
        return ProfileChange(sub, changed=False)
    try:
        store.update_profile(new)
    except DuplicateError:
        raise Conflict(f"an identity added to {imsi} belongs to another subscriber") from None
    except UnknownSubscriber:
        raise NotFound(f"no subscriber {imsi}") from None
    current = store.get(imsi) or new
    try:
        push = ppr.new_push(current)
    except Unroutable as exc:
        return ProfileChange(current, changed=True, not_sent=str(exc))
    queued = _queue(store, push, now) if push is not None else None
    return ProfileChange(current, changed=True, push=queued)


def change_auth(store: Store, imsi: str, edit: Callable[[Subscriber], Subscriber]) -> Subscriber:
    """Store ``edit(subscriber)``'s authentication data (:meth:`Store.update_auth`;
    :func:`hss.provision.with_auth` is the usual *edit*). Nothing goes to the S-CSCF: the
    next MAR uses the new data."""
    new = edit(get(store, imsi))
    try:
        store.update_auth(new)
    except UnknownSubscriber:
        raise NotFound(f"no subscriber {imsi}") from None
    return get(store, imsi)


def reset_sqn(store: Store, imsi: str, sqn: int = 0) -> SqnReset:
    """Set the stored SQN (see :meth:`Store.set_sqn` for what TS 33.102 says of it)."""
    try:
        previous, now = store.set_sqn(imsi, sqn)
    except UnknownSubscriber:
        raise NotFound(f"no subscriber {imsi}") from None
    return SqnReset(imsi, previous, now)


def get_push(store: Store, push_id: int) -> Push:
    push = store.get_push(push_id)
    if push is None:
        raise NotFound(f"no push #{push_id} (finished ones are purged after [push] "
                       "keep_seconds)")
    return push


def await_push(store: Store, push_id: int, wait: float, *,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], object] = time.sleep) -> Push:
    """The push as stored once it has finished, or after *wait* seconds (look at its
    state); it is read at least once. :class:`NotFound` when it is gone from the outbox."""
    deadline = clock() + wait
    while True:
        push = get_push(store, push_id)
        if push.state.finished or clock() >= deadline:
            return push
        sleep(POLL_SECONDS)
