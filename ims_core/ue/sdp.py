"""The UE's session descriptions (RFC 4566) and its side of the offer/answer model
(RFC 3264), sans-I/O: one audio stream, PCMU/8000 (payload type 0, RFC 3551). Nothing
here sends or receives media; the SDP only lets a call be set up."""

from __future__ import annotations

from dataclasses import dataclass, field

from .messages import Local, Rng

CONTENT_TYPE = "application/sdp"
AUDIO_PORT = 49170  # the port our SDP names; no RTP flows

_ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
                     "inactive": "inactive"}  # RFC 3264 §6.1


@dataclass(slots=True)
class Stream:
    """One m-line of an offer (RFC 4566 §5.14) and what its attributes say."""

    media: str
    port: str
    proto: str
    formats: list[str]
    direction: str
    rtpmap: dict[str, str] = field(default_factory=dict)

    def pcmu(self) -> str | None:
        """The payload type PCMU/8000 has here (0 is static), None without it."""
        if self.media != "audio" or self.port == "0" or not self.proto.startswith("RTP/"):
            return None
        for pt in self.formats:
            codec = self.rtpmap.get(pt)
            if (pt == "0" and codec is None) or (codec or "").upper().startswith("PCMU/8000"):
                return pt
        return None


def streams(sdp: bytes) -> list[Stream]:
    """The media sections of ``sdp``; none at all when an m-line is bad."""
    out: list[Stream] = []
    direction = "sendrecv"  # a session-level direction is each stream's default
    for line in sdp.decode("utf-8", "replace").splitlines():
        kind, _, value = line.strip().partition("=")
        name, _, arg = value.partition(":")
        if kind == "m":
            parts = value.split()
            if len(parts) < 4:
                return []
            out.append(Stream(parts[0], parts[1], parts[2], parts[3:], direction))
        elif kind == "a" and name in _ANSWER_DIRECTION:
            if out:
                out[-1].direction = name
            else:
                direction = name
        elif kind == "a" and name == "rtpmap" and out:
            pt, _, codec = arg.strip().partition(" ")
            out[-1].rtpmap[pt] = codec.strip()
    return out


@dataclass(frozen=True, slots=True)
class Media:
    """Our session description at ``host``:``port``; ``session`` is the o= line's id and
    version (RFC 4566 §5.2), unchanged while what we say stays the same (RFC 3264 §8)."""

    host: str
    port: int
    session: int

    @classmethod
    def new(cls, local: Local, rng: Rng) -> Media:
        return cls(local.host, AUDIO_PORT, int.from_bytes(rng(4), "big") >> 1)

    def offer(self) -> bytes:
        return self._sdp([f"m=audio {self.port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000",
                          "a=sendrecv"])

    def answer(self, offer: bytes) -> bytes | None:
        """RFC 3264 §6: an m-line for each of the offer's, the first audio stream that
        offers PCMU taken, any other refused with port 0; None when none is taken."""
        lines: list[str] = []
        taken = False
        for s in streams(offer):
            pt = None if taken else s.pcmu()
            if pt is None:
                lines.append(f"m={s.media} 0 {s.proto} {' '.join(s.formats)}")
                continue
            taken = True
            lines += [f"m=audio {self.port} {s.proto} {pt}", f"a=rtpmap:{pt} PCMU/8000",
                      f"a={_ANSWER_DIRECTION[s.direction]}"]
        return self._sdp(lines) if taken else None

    def _sdp(self, media: list[str]) -> bytes:
        net = f"IN {'IP6' if ':' in self.host else 'IP4'} {self.host}"
        lines = ["v=0", f"o=- {self.session} {self.session} {net}", "s=-", f"c={net}",
                 "t=0 0", *media]
        return ("\r\n".join(lines) + "\r\n").encode()
