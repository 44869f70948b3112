"""Our own UE: REGISTER with IMS-AKA (RFC 3310, TS 33.203) or MD5 digest, AUTS
resynchronisation (TS 33.102 §6.3.3) and de-registration (TS 24.229 §5.1.1); staying
registered and watching its own registration through the reg event (§5.1.1.3, §5.1.1.7).

``profile`` holds who the UE is, ``challenge`` answers a 401 with the auth core on the
UE side, ``registration`` is the sans-I/O state machine of one (de-)registration,
``subscription`` that of the reg-event subscription (its dialog an
:class:`ims_core.sip.Dialog`, what its NOTIFYs say in ``regevent``), ``agent`` the UE
that stays (re-registration, subscription, exit status), ``sessions`` the calls and
MESSAGEs it places and answers (``call``, ``callee``, ``sdp``), ``protection`` its side
of IPsec sec-agree (TS 33.203 §7: the offer, the SA sets, the headers and routes),
``client`` the thin asyncio UDP/TCP adapter and ``protected_flow`` the one over IPsec
(sockets of the protected ports, the kernel's SAs), ``cli`` the ``ims-core ue`` command.
"""

from .agent import Agent, Ending
from .challenge import Answer, ChallengeError, FirstRegister, answer_challenge
from .profile import UeProfile, demo_profile
from .registration import Outcome, Registration, State
from .subscription import Subscription

__all__ = [
    "Agent",
    "Answer",
    "ChallengeError",
    "Ending",
    "FirstRegister",
    "Outcome",
    "Registration",
    "State",
    "Subscription",
    "UeProfile",
    "answer_challenge",
    "demo_profile",
]
