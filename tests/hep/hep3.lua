-- A HEP3 dissector for the tests only (tshark -X lua_script:tests/hep/hep3.lua): this
-- Wireshark has none of its own. It reads the chunk framing of the HEP3 specification,
-- shows each generic chunk as a field (hep.proto_type, hep.correlation_id, ...), flags
-- framing errors as malformed, and hands the payload to Wireshark's own SIP (protocol
-- type 1) or Diameter (0x38) dissector. Decode-as only: -d udp.port==N,hep.

local hep = Proto("hep", "HEP3 (test dissector)")
local f = hep.fields
f.length = ProtoField.uint16("hep.length", "Total length")
f.family = ProtoField.uint8("hep.ip_family", "IP family")
f.ip_proto = ProtoField.uint8("hep.ip_proto", "IP protocol")
f.src_ip = ProtoField.ipv4("hep.src_ip", "Source IPv4")
f.dst_ip = ProtoField.ipv4("hep.dst_ip", "Destination IPv4")
f.src_ip6 = ProtoField.ipv6("hep.src_ip6", "Source IPv6")
f.dst_ip6 = ProtoField.ipv6("hep.dst_ip6", "Destination IPv6")
f.src_port = ProtoField.uint16("hep.src_port", "Source port")
f.dst_port = ProtoField.uint16("hep.dst_port", "Destination port")
f.ts_sec = ProtoField.uint32("hep.ts_sec", "Timestamp (s)")
f.ts_usec = ProtoField.uint32("hep.ts_usec", "Timestamp (us)")
f.proto_type = ProtoField.uint8("hep.proto_type", "Protocol type")
f.capture_id = ProtoField.uint32("hep.capture_id", "Capture agent id")
f.auth_key = ProtoField.string("hep.auth_key", "Authentication key")
f.payload = ProtoField.bytes("hep.payload", "Payload")
f.correlation_id = ProtoField.string("hep.correlation_id", "Correlation id")
f.node_name = ProtoField.string("hep.node_name", "Capture agent name")
f.unknown = ProtoField.bytes("hep.unknown_chunk", "Chunk of another vendor or type")

local malformed = ProtoExpert.new("hep.malformed", "Malformed HEP3 packet",
                                  expert.group.MALFORMED, expert.severity.ERROR)
hep.experts = { malformed }

-- type id -> field, and the value size of the fixed-size ones
local by_type = { f.family, f.ip_proto, f.src_ip, f.dst_ip, f.src_ip6, f.dst_ip6,
                  f.src_port, f.dst_port, f.ts_sec, f.ts_usec, f.proto_type, f.capture_id,
                  nil, f.auth_key, f.payload, nil, f.correlation_id, nil, f.node_name }
local sizes = { 1, 1, 4, 4, 16, 16, 2, 2, 4, 4, 1, 4 }
local inner = { [1] = "sip", [0x38] = "diameter" }

function hep.dissector(tvb, pinfo, tree)
    if tvb:len() < 6 or tvb(0, 4):string() ~= "HEP3" then
        return 0
    end
    pinfo.cols.protocol = "HEP3"
    local t = tree:add(hep, tvb())
    local total = tvb(4, 2):uint()
    t:add(f.length, tvb(4, 2))
    if total ~= tvb:len() then
        t:add_proto_expert_info(malformed, "total length " .. total .. " but " .. tvb:len()
                                .. " octets")
        return tvb:len()
    end
    local pos, ptype, payload = 6, nil, nil
    while pos < total do
        if total - pos < 6 then
            t:add_proto_expert_info(malformed, "trailing octets shorter than a chunk header")
            break
        end
        local vendor, ctype, clen = tvb(pos, 2):uint(), tvb(pos + 2, 2):uint(),
                                    tvb(pos + 4, 2):uint()
        if clen < 6 or pos + clen > total then
            t:add_proto_expert_info(malformed, "chunk length " .. clen .. " at " .. pos)
            break
        end
        local n = clen - 6
        local field = vendor == 0 and by_type[ctype] or nil
        if vendor == 0 and sizes[ctype] ~= nil and sizes[ctype] ~= n then
            t:add_proto_expert_info(malformed, "chunk " .. ctype .. " of " .. n .. " octets")
        elseif field ~= nil and n > 0 then
            t:add(field, tvb(pos + 6, n))
            if ctype == 11 then ptype = tvb(pos + 6, 1):uint() end
            if ctype == 15 then payload = tvb(pos + 6, n) end
        elseif n > 0 then
            t:add(f.unknown, tvb(pos + 6, n))
        end
        pos = pos + clen
    end
    local name = ptype and inner[ptype]
    if payload ~= nil and name ~= nil then
        Dissector.get(name):call(payload:tvb(), pinfo, tree)
    end
    return total
end

DissectorTable.get("udp.port"):add_for_decode_as(hep)
