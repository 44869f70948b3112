"""Base protocol dictionary data (RFC 6733 §4.5, §5, §6, §7, §8, §9; RFC 4740 digest AVPs)."""

from __future__ import annotations

from .datatypes import AvpType as T
from .dictionary import (
    BASE_APPLICATION_ID,
    RELAY_APPLICATION_ID,
    Application,
    CommandDef,
    avps_from_table,
)

# (code, name, type, M bit sent) — RFC 6733 §4.5 table; vendor 0.
_ROWS = [
    (1, "User-Name", T.UTF8_STRING, True),
    (8, "Framed-IP-Address", T.OCTET_STRING, True),  # RFC 7155, used in Cx MAR (NASS bundled)
    (25, "Class", T.OCTET_STRING, True),
    (27, "Session-Timeout", T.UNSIGNED32, True),
    (33, "Proxy-State", T.OCTET_STRING, True),
    (44, "Accounting-Session-Id", T.OCTET_STRING, True),
    (50, "Acct-Multi-Session-Id", T.UTF8_STRING, True),
    (55, "Event-Timestamp", T.TIME, True),
    (85, "Acct-Interim-Interval", T.UNSIGNED32, True),
    (96, "Framed-Interface-Id", T.UNSIGNED64, True),  # RFC 7155
    (97, "Framed-IPv6-Prefix", T.OCTET_STRING, True),  # RFC 7155
    (104, "Digest-Realm", T.UTF8_STRING, True),  # RFC 4740 §9.5
    (110, "Digest-QoP", T.UTF8_STRING, True),
    (111, "Digest-Algorithm", T.UTF8_STRING, True),
    (121, "Digest-HA1", T.UTF8_STRING, True),
    (257, "Host-IP-Address", T.ADDRESS, True),
    (258, "Auth-Application-Id", T.UNSIGNED32, True),
    (259, "Acct-Application-Id", T.UNSIGNED32, True),
    (260, "Vendor-Specific-Application-Id", T.GROUPED, True),
    (261, "Redirect-Host-Usage", T.ENUMERATED, True),
    (262, "Redirect-Max-Cache-Time", T.UNSIGNED32, True),
    (263, "Session-Id", T.UTF8_STRING, True),
    (264, "Origin-Host", T.DIAMETER_IDENTITY, True),
    (265, "Supported-Vendor-Id", T.UNSIGNED32, True),
    (266, "Vendor-Id", T.UNSIGNED32, True),
    (267, "Firmware-Revision", T.UNSIGNED32, False),
    (268, "Result-Code", T.UNSIGNED32, True),
    (269, "Product-Name", T.UTF8_STRING, False),
    (270, "Session-Binding", T.UNSIGNED32, True),
    (271, "Session-Server-Failover", T.ENUMERATED, True),
    (272, "Multi-Round-Time-Out", T.UNSIGNED32, True),
    (273, "Disconnect-Cause", T.ENUMERATED, True),
    (274, "Auth-Request-Type", T.ENUMERATED, True),
    (276, "Auth-Grace-Period", T.UNSIGNED32, True),
    (277, "Auth-Session-State", T.ENUMERATED, True),
    (278, "Origin-State-Id", T.UNSIGNED32, True),
    (279, "Failed-AVP", T.GROUPED, True),
    (280, "Proxy-Host", T.DIAMETER_IDENTITY, True),
    (281, "Error-Message", T.UTF8_STRING, False),
    (282, "Route-Record", T.DIAMETER_IDENTITY, True),
    (283, "Destination-Realm", T.DIAMETER_IDENTITY, True),
    (284, "Proxy-Info", T.GROUPED, True),
    (285, "Re-Auth-Request-Type", T.ENUMERATED, True),
    (287, "Accounting-Sub-Session-Id", T.UNSIGNED64, True),
    (291, "Authorization-Lifetime", T.UNSIGNED32, True),
    (292, "Redirect-Host", T.DIAMETER_URI, True),
    (293, "Destination-Host", T.DIAMETER_IDENTITY, True),
    (294, "Error-Reporting-Host", T.DIAMETER_IDENTITY, False),
    (295, "Termination-Cause", T.ENUMERATED, True),
    (296, "Origin-Realm", T.DIAMETER_IDENTITY, True),
    (297, "Experimental-Result", T.GROUPED, True),
    (298, "Experimental-Result-Code", T.UNSIGNED32, True),
    (299, "Inband-Security-Id", T.UNSIGNED32, True),
    (480, "Accounting-Record-Type", T.ENUMERATED, True),
    (483, "Accounting-Realtime-Required", T.ENUMERATED, True),
    (485, "Accounting-Record-Number", T.UNSIGNED32, True),
]

_ENUMS = {
    "Auth-Session-State": {"STATE_MAINTAINED": 0, "NO_STATE_MAINTAINED": 1},
    "Disconnect-Cause": {"REBOOTING": 0, "BUSY": 1, "DO_NOT_WANT_TO_TALK_TO_YOU": 2},
    "Auth-Request-Type": {"AUTHENTICATE_ONLY": 1, "AUTHORIZE_ONLY": 2, "AUTHORIZE_AUTHENTICATE": 3},
    "Redirect-Host-Usage": {
        "DONT_CACHE": 0,
        "ALL_SESSION": 1,
        "ALL_REALM": 2,
        "REALM_AND_APPLICATION": 3,
        "ALL_APPLICATION": 4,
        "ALL_HOST": 5,
        "ALL_USER": 6,
    },
    "Session-Server-Failover": {
        "REFUSE_SERVICE": 0,
        "TRY_AGAIN": 1,
        "ALLOW_SERVICE": 2,
        "TRY_AGAIN_ALLOW_SERVICE": 3,
    },
    "Re-Auth-Request-Type": {"AUTHORIZE_ONLY": 0, "AUTHORIZE_AUTHENTICATE": 1},
    "Termination-Cause": {
        "DIAMETER_LOGOUT": 1,
        "DIAMETER_SERVICE_NOT_PROVIDED": 2,
        "DIAMETER_BAD_ANSWER": 3,
        "DIAMETER_ADMINISTRATIVE": 4,
        "DIAMETER_LINK_BROKEN": 5,
        "DIAMETER_AUTH_EXPIRED": 6,
        "DIAMETER_USER_MOVED": 7,
        "DIAMETER_SESSION_TIMEOUT": 8,
    },
    "Accounting-Record-Type": {
        "EVENT_RECORD": 1,
        "START_RECORD": 2,
        "INTERIM_RECORD": 3,
        "STOP_RECORD": 4,
    },
    "Accounting-Realtime-Required": {
        "DELIVER_AND_GRANT": 1,
        "GRANT_AND_STORE": 2,
        "GRANT_AND_LOSE": 3,
    },
}

AVPS = avps_from_table(_ROWS, 0, _ENUMS)

# Required AVPs per command (RFC 6733 §5.3, §5.4, §5.5 CCF; "{...}" entries only).
_ANSWER_BASE = ("Result-Code", "Origin-Host", "Origin-Realm")
_CAPS = ("Origin-Host", "Origin-Realm", "Host-IP-Address", "Vendor-Id", "Product-Name")

COMMANDS = [
    CommandDef(
        "Capabilities-Exchange", 257, BASE_APPLICATION_ID, "CER", "CEA", False,
        _CAPS, ("Result-Code", *_CAPS),
    ),
    CommandDef(
        "Device-Watchdog", 280, BASE_APPLICATION_ID, "DWR", "DWA", False,
        ("Origin-Host", "Origin-Realm"), _ANSWER_BASE,
    ),
    CommandDef(
        "Disconnect-Peer", 282, BASE_APPLICATION_ID, "DPR", "DPA", False,
        ("Origin-Host", "Origin-Realm", "Disconnect-Cause"), _ANSWER_BASE,
    ),
]  # fmt: skip

APPLICATIONS = [
    Application(BASE_APPLICATION_ID, 0, "Diameter Common Messages"),
    Application(RELAY_APPLICATION_ID, 0, "Relay"),
]
