"""SQN = SEQ ‖ IND (TS 33.102 Annex C.1.1, C.3.2).

The HSS keeps, per subscriber, the last SQN it handed out. Each new vector increments
SEQ by one and steps IND round-robin over 2**ind_bits values, so a batch of N vectors is
SEQ+1..SEQ+N with consecutive INDs. Stores apply :func:`advance` as one atomic SQL update
(see :mod:`hss.store`), so no two vectors share an SQN.
"""

from __future__ import annotations

SQN_BITS = 48
DEFAULT_IND_BITS = 5


class SqnExhausted(RuntimeError):
    """SEQ would leave its 48 - IND bits (C.3.2 wrap-around is not supported)."""


def split(sqn: int, ind_bits: int = DEFAULT_IND_BITS) -> tuple[int, int]:
    """(SEQ, IND) of a 48-bit SQN."""
    return sqn >> ind_bits, sqn & ((1 << ind_bits) - 1)


def join(seq: int, ind: int, ind_bits: int = DEFAULT_IND_BITS) -> int:
    if not 0 <= ind < 1 << ind_bits:
        raise ValueError("IND out of range")
    if not 0 <= seq < 1 << (SQN_BITS - ind_bits):
        raise SqnExhausted(f"SEQ {seq} does not fit {SQN_BITS - ind_bits} bits")
    return (seq << ind_bits) | ind


def advance(sqn: int, n: int, ind_bits: int = DEFAULT_IND_BITS) -> int:
    """The stored SQN after handing out *n* more (what the store's UPDATE computes)."""
    seq, ind = split(sqn, ind_bits)
    return join(seq + n, (ind + n) % (1 << ind_bits), ind_bits)


def batch(last: int, n: int, ind_bits: int = DEFAULT_IND_BITS) -> list[int]:
    """The *n* SQNs ending at *last* (the value the atomic update returned), oldest first."""
    if n == 1 and 0 <= last < 1 << SQN_BITS:  # the common case: join(*split(last))
        return [last]
    seq, ind = split(last, ind_bits)
    mod = 1 << ind_bits
    return [join(seq - n + 1 + i, (ind - n + 1 + i) % mod, ind_bits) for i in range(n)]


def after_resync(stored: int, sqn_ms: int, ind_bits: int = DEFAULT_IND_BITS) -> int:
    """C.3.4: SEQ_HE := SEQ_MS — but never backwards, so SQNs stay unique across fronts."""
    seq_he, ind = split(stored, ind_bits)
    seq_ms, _ = split(sqn_ms, ind_bits)
    return join(max(seq_he, seq_ms), ind, ind_bits)


def to_bytes(sqn: int) -> bytes:
    return sqn.to_bytes(6, "big")


def from_bytes(b: bytes) -> int:
    if len(b) != 6:
        raise ValueError("SQN is 6 octets")
    return int.from_bytes(b, "big")
