#!/bin/sh
# Entrypoint of the image's `sipp` stage (docker/compose.yaml, profile sipp): SIPp registers
# demo subscribers with IMS-AKA through the P-CSCF.
# The injection file comes from the demo formula (`ims-core subscriber sipp-csv --demo`):
# a demo subscriber's keys follow from its IMSI, so the file matches what the HSS seeded
# without access to its store. The domain of the IMPIs comes from the HSS config and its
# environment (IMS_CORE__CX__DOMAIN), as the HSS's does.
#   SIPP_USERS       how many subscribers (the HSS's seed count)
#   SIPP_FIRST_IMSI  the first one's IMSI (the HSS's first seeded IMSI)
# Arguments: passed to sipp, followed by -inf FILE -m ROWS (one registration per row).
set -eu
# The scenarios under /etc/sipp name the lab's home domain; use this network's.
lab=ims.mnc001.mcc001.3gppnetwork.org
for f in /etc/sipp/*.xml; do
    sed "s/$lab/${IMS_CORE__CX__DOMAIN:?}/g" "$f" >"/tmp/$(basename "$f")"
done
csv=/tmp/sipp-users.csv
ims-core subscriber -c /etc/ims-core/hss.toml sipp-csv \
    --demo "${SIPP_USERS:?}" --first "${SIPP_FIRST_IMSI:?}" >"$csv"
rows=$(($(wc -l <"$csv") - 1))  # less the SEQUENTIAL line
exec sipp "$@" -inf "$csv" -m "$rows"
