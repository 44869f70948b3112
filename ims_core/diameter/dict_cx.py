"""Cx/Dx dictionary data (3GPP TS 29.229 §6.1 commands, §6.3 AVPs; vendor 10415).

M bit as sent: set on 600-628, clear on 629 and later (current TS 29.229 §6.3 table).
"""

from __future__ import annotations

from .datatypes import AvpType as T
from .dictionary import CX_APPLICATION_ID, VENDOR_3GPP, Application, CommandDef, avps_from_table

_ROWS = [
    (600, "Visited-Network-Identifier", T.OCTET_STRING, True),
    (601, "Public-Identity", T.UTF8_STRING, True),
    (602, "Server-Name", T.UTF8_STRING, True),
    (603, "Server-Capabilities", T.GROUPED, True),
    (604, "Mandatory-Capability", T.UNSIGNED32, True),
    (605, "Optional-Capability", T.UNSIGNED32, True),
    (606, "User-Data", T.OCTET_STRING, True),
    (607, "SIP-Number-Auth-Items", T.UNSIGNED32, True),
    (608, "SIP-Authentication-Scheme", T.UTF8_STRING, True),
    (609, "SIP-Authenticate", T.OCTET_STRING, True),
    (610, "SIP-Authorization", T.OCTET_STRING, True),
    (611, "SIP-Authentication-Context", T.OCTET_STRING, True),
    (612, "SIP-Auth-Data-Item", T.GROUPED, True),
    (613, "SIP-Item-Number", T.UNSIGNED32, True),
    (614, "Server-Assignment-Type", T.ENUMERATED, True),
    (615, "Deregistration-Reason", T.GROUPED, True),
    (616, "Reason-Code", T.ENUMERATED, True),
    (617, "Reason-Info", T.UTF8_STRING, True),
    (618, "Charging-Information", T.GROUPED, True),
    (619, "Primary-Event-Charging-Function-Name", T.DIAMETER_URI, True),
    (620, "Secondary-Event-Charging-Function-Name", T.DIAMETER_URI, True),
    (621, "Primary-Charging-Collection-Function-Name", T.DIAMETER_URI, True),
    (622, "Secondary-Charging-Collection-Function-Name", T.DIAMETER_URI, True),
    (623, "User-Authorization-Type", T.ENUMERATED, True),
    (624, "User-Data-Already-Available", T.ENUMERATED, True),
    (625, "Confidentiality-Key", T.OCTET_STRING, True),
    (626, "Integrity-Key", T.OCTET_STRING, True),
    (628, "Supported-Features", T.GROUPED, False),
    (629, "Feature-List-ID", T.UNSIGNED32, False),
    (630, "Feature-List", T.UNSIGNED32, False),
    (631, "Supported-Applications", T.GROUPED, False),
    (632, "Associated-Identities", T.GROUPED, False),
    (633, "Originating-Request", T.ENUMERATED, False),
    (634, "Wildcarded-Public-Identity", T.UTF8_STRING, False),
    (635, "SIP-Digest-Authenticate", T.GROUPED, False),
    (636, "Wildcarded-IMPU", T.UTF8_STRING, False),
    (637, "UAR-Flags", T.UNSIGNED32, False),
    (638, "Loose-Route-Indication", T.ENUMERATED, False),
    (639, "SCSCF-Restoration-Info", T.GROUPED, False),
    (640, "Path", T.OCTET_STRING, False),
    (641, "Contact", T.OCTET_STRING, False),
    (642, "Subscription-Info", T.GROUPED, False),
    (643, "Call-ID-SIP-Header", T.OCTET_STRING, False),
    (644, "From-SIP-Header", T.OCTET_STRING, False),
    (645, "To-SIP-Header", T.OCTET_STRING, False),
    (646, "Record-Route", T.OCTET_STRING, False),
    (647, "Associated-Registered-Identities", T.GROUPED, False),
    (648, "Multiple-Registration-Indication", T.ENUMERATED, False),
    (649, "Restoration-Info", T.GROUPED, False),
    (650, "Session-Priority", T.ENUMERATED, False),
    (651, "Identity-with-Emergency-Registration", T.GROUPED, False),
    (652, "Priviledged-Sender-Indication", T.ENUMERATED, False),
    (653, "LIA-Flags", T.UNSIGNED32, False),
    (654, "Initial-CSeq-Sequence-Number", T.UNSIGNED32, False),
    (655, "SAR-Flags", T.UNSIGNED32, False),
    (659, "RTR-Flags", T.UNSIGNED32, False),
]

_ENUMS = {
    "Server-Assignment-Type": {
        "NO_ASSIGNMENT": 0,
        "REGISTRATION": 1,
        "RE_REGISTRATION": 2,
        "UNREGISTERED_USER": 3,
        "TIMEOUT_DEREGISTRATION": 4,
        "USER_DEREGISTRATION": 5,
        "TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME": 6,
        "USER_DEREGISTRATION_STORE_SERVER_NAME": 7,
        "ADMINISTRATIVE_DEREGISTRATION": 8,
        "AUTHENTICATION_FAILURE": 9,
        "AUTHENTICATION_TIMEOUT": 10,
        "DEREGISTRATION_TOO_MUCH_DATA": 11,
        "AAA_USER_DATA_REQUEST": 12,
        "PGW_UPDATE": 13,
        "RESTORATION": 14,
    },
    "User-Authorization-Type": {
        "REGISTRATION": 0,
        "DE_REGISTRATION": 1,
        "REGISTRATION_AND_CAPABILITIES": 2,
    },
    "User-Data-Already-Available": {"USER_DATA_NOT_AVAILABLE": 0, "USER_DATA_ALREADY_AVAILABLE": 1},
    "Reason-Code": {
        "PERMANENT_TERMINATION": 0,
        "NEW_SERVER_ASSIGNED": 1,
        "SERVER_CHANGE": 2,
        "REMOVE_S-CSCF": 3,
    },
    "Originating-Request": {"ORIGINATING": 0},
    "Loose-Route-Indication": {"LOOSE_ROUTE_NOT_REQUIRED": 0, "LOOSE_ROUTE_REQUIRED": 1},
    "Multiple-Registration-Indication": {
        "NOT_MULTIPLE_REGISTRATION": 0,
        "MULTIPLE_REGISTRATION": 1,
    },
    "Session-Priority": {f"PRIORITY-{i}": i for i in range(5)},
    "Priviledged-Sender-Indication": {"NOT_PRIVILEDGED_SENDER": 0, "PRIVILEDGED_SENDER": 1},
}

AVPS = avps_from_table(_ROWS, VENDOR_3GPP, _ENUMS)

# TS 29.229 §6.1: "{...}" AVPs of each command. The answers are held to the base rules only
# (Session-Id, origin, a result) so that lenient peers still interoperate.
_REQ = (
    "Session-Id",
    "Vendor-Specific-Application-Id",
    "Auth-Session-State",
    "Origin-Host",
    "Origin-Realm",
    "Destination-Realm",
)
_ANS = ("Session-Id", "Origin-Host", "Origin-Realm", ("Result-Code", "Experimental-Result"))

COMMANDS = [
    CommandDef(
        "User-Authorization", 300, CX_APPLICATION_ID, "UAR", "UAA", True,
        (*_REQ, "User-Name", "Public-Identity", "Visited-Network-Identifier"), _ANS,
    ),
    CommandDef(
        "Server-Assignment", 301, CX_APPLICATION_ID, "SAR", "SAA", True,
        (*_REQ, "Server-Name", "Server-Assignment-Type", "User-Data-Already-Available"), _ANS,
    ),
    CommandDef(
        "Location-Info", 302, CX_APPLICATION_ID, "LIR", "LIA", True,
        (*_REQ, "Public-Identity"), _ANS,
    ),
    CommandDef(
        "Multimedia-Auth", 303, CX_APPLICATION_ID, "MAR", "MAA", True,
        (*_REQ, "User-Name", "Public-Identity", "SIP-Auth-Data-Item", "SIP-Number-Auth-Items",
         "Server-Name"), _ANS,
    ),
    CommandDef(
        "Registration-Termination", 304, CX_APPLICATION_ID, "RTR", "RTA", True,
        (*_REQ, "Destination-Host", "Deregistration-Reason", "User-Name"), _ANS,
    ),
    CommandDef(
        "Push-Profile", 305, CX_APPLICATION_ID, "PPR", "PPA", True,
        (*_REQ, "Destination-Host", "User-Name"), _ANS,
    ),
]  # fmt: skip

APPLICATIONS = [Application(CX_APPLICATION_ID, VENDOR_3GPP, "3GPP Cx/Dx")]
