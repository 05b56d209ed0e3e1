#!/bin/sh
# regen.sh: the canned rulesets of doctor_test.cpp, as this kernel lists
# them (`nft -j list ruleset`), one fresh network namespace each. Root.
# flowtable.json is written by hand (this kernel may lack flowtables).
set -e
cd "$(dirname "$0")"
for f in *.nft; do
	unshare -n sh -c "nft -f $f && nft -j list ruleset" | python3 -m json.tool --indent 1 > "${f%.nft}.json"
done
