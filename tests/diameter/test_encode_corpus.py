"""The encoder's wire bytes are pinned: a corpus of Cx messages (every command, answers
with Result-Code and Experimental-Result, Grouped values nested two deep, vendor AVPs,
padding of every length) encodes to exactly the bytes it encoded to before the encoder
was made faster. A change of the encoder that changes one octet fails here."""

from __future__ import annotations

import hashlib

from ims_core.diameter import Avp, CxResult, Message, decode, make_answer
from tests.diameter import samples


def _pinned(m: Message, n: int) -> Message:
    """Fixed identifiers and Session-Id (the samples draw a random one)."""
    m.hop_by_hop, m.end_to_end = 0x1000 + n, 0x2000 + n
    if m.avps and m.avps[0].code == 263:
        m.avps[0] = Avp.of("Session-Id", f"{samples.SCSCF};{n};corpus")
    return m


def corpus() -> list[Message]:
    reqs = [samples.uar(), samples.mar(), samples.mar(resync=bytes(range(30))), samples.sar(),
            samples.lir(), samples.rtr(), samples.ppr()]
    out = [_pinned(r, i) for i, r in enumerate(reqs)]
    answers = [samples.uaa(out[0]), samples.maa(out[1]), samples.maa_digest(out[2]),
               samples.saa(out[3]), samples.lia(out[4]), samples.simple_answer(out[5]),
               samples.simple_answer(out[6]),
               make_answer(out[1], experimental=CxResult.ERROR_USER_UNKNOWN,
                           origin_host=samples.HSS, origin_realm=samples.DOMAIN)]
    out += answers
    for text in ("", "a", "ab", "abc", "abcd"):  # each padding length
        m = _pinned(samples.lir(), 99)
        m.add("Public-Identity", f"sip:{text}@x")
        out.append(m)
    return out


# SHA-256 of each corpus message's encoding, taken with the encoder as it was.
EXPECTED = (
    '79ad51106185afc2edd14f1fef250e4ac291456af152a47d0a37528772aa1d96',
    'd8ee3e9e7425f45994b31dc812af301b52e6080b2b1b39ffd86f22be2870fb57',
    '2a41693529e90241a45d5f0d01cea957a01d68f8c945acf48219d21325d034d0',
    '86f641801f80d1065fc901fd9940aec63c4c1b145273826fd107905fe394764a',
    '54f62f9a8ee85b5216c5811e3b3ec555109b90dab3b1032c5fd24cb8794d7698',
    'b387d82e063bb318efd87da650306668f299f73af652a2281f28d55fa5dacb27',
    'e75dba579b2c919496fc5ec88fc3d8a4a538c1f57327bd5788fbd163bb38546c',
    '9e4b086a99ae25a0d5afdeaaf40a06faf038f71ae1bf04fddc059553a69a80b7',
    '0e8a44ef0cbcb26eb424e9a7741ad4ef5d31b849c1c2b26fe3c0dd96e16f046c',
    '9317ce5427b2439ee5c6b5af61aa96ea8381fdeb979e7ba90929e8747658f46f',
    '266e8182e86c18d87482da333067c709be9f1e91ebfa6eea5b6c5114743d15e9',
    '74348430d42878eeef03738c717605d8a3ad872aa278998e56d9dd8b18d95659',
    '713ed7c63c51a80090cdfbde581d411c685b359b153dec9ab1f50f0b2f9ea5ad',
    'a9672cd06f7ebf5754e65f40bf8f1174394118d9d567cf311b544f3e28b3db61',
    '79d54679b9ee2b275c353b9ed7a5bfd26bf037e02b06f212b2db48afd84f938f',
    '3077e1dbc95d90f9275f414f95d20d015c74ef165f2721ab4cb6be7e32d79b11',
    '3b0e580751c972251725b80c988e4ef883e0ae407c6a8bf3ecf3e45075462ebe',
    '81670545c03bb8ba183e39a48efc540773dcee47a928ff76cb20b8a68db4f7e5',
    '8e9305ddca244f363bb887174b67ad718a8ab3d7f473446662b8d4995ffa8fa9',
    'dd69d63622426c4bf0810a9634d43ca92cebd97bc67666bde8bdf8329e962e53',
)


def test_corpus_encodes_to_the_pinned_bytes() -> None:
    got = tuple(hashlib.sha256(m.encode()).hexdigest() for m in corpus())
    assert got == EXPECTED


def test_decoded_corpus_reencodes_identically() -> None:
    """What the decoder keeps re-encodes to the same octets (answers relayed, echoed AVPs)."""
    for m in corpus():
        wire = m.encode()
        again = decode(wire, check_rules=False)
        for a in again.avps:
            a.value = a.value  # drop any kept encoding: encode from the value
        assert again.encode() == wire
