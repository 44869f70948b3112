"""HEP3 (Homer Encapsulation Protocol v3) export of the SIP and Diameter messages a node
sends and receives."""
