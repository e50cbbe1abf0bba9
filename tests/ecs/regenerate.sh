#!/bin/sh
# Regenerates tests/ecs/fields.csv, the pinned ECS field list that
# tests/ecs_fields.rs checks every golden record against, from ECS's
# published reference (generated/csv/fields.csv of github.com/elastic/ecs).
# Usage: tests/ecs/regenerate.sh ECS_CHECKOUT TAG   (e.g. ~/ecs v9.4.0)
# Then bump ECS_VERSION in src/record/mod.rs to the tag's version.
set -eu
repo=$1
tag=$2
commit=$(git -C "$repo" rev-parse "$tag^{commit}")
out=$(dirname "$0")/fields.csv
git -C "$repo" show "$commit:generated/csv/fields.csv" | python3 -c '
import csv, sys
tag, commit = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(sys.stdin))
print("# ECS field reference, version %s: name,type of every field." % rows[0]["ECS_Version"])
print("# Source: github.com/elastic/ecs %s (%s), generated/csv/fields.csv." % (tag, commit))
print("# Regenerate: tests/ecs/regenerate.sh ECS_CHECKOUT TAG (do not edit by hand).")
print("name,type")
for r in sorted(rows, key=lambda r: r["Field"]):
    print("%s,%s" % (r["Field"], r["Type"]))
' "$tag" "$commit" >"$out"
