"""Our own UE: REGISTER with IMS-AKA (RFC 3310, TS 33.203) or MD5 digest, AUTS
resynchronisation (TS 33.102 §6.3.3) and de-registration (TS 24.229 §5.1.1).

``profile`` holds who the UE is, ``challenge`` answers a 401 with the auth core on the
UE side, ``registration`` is the sans-I/O state machine, ``client`` the thin asyncio
UDP/TCP adapter, ``cli`` the ``ims-core ue`` command.
"""

from .challenge import Answer, ChallengeError, FirstRegister, answer_challenge
from .profile import UeProfile, demo_profile
from .registration import Outcome, Registration, State

__all__ = [
    "Answer",
    "ChallengeError",
    "FirstRegister",
    "Outcome",
    "Registration",
    "State",
    "UeProfile",
    "answer_challenge",
    "demo_profile",
]
