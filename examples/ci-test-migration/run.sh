#!/usr/bin/env bash
# CI test migration: collect, approve, test, clean up. Any exit code but 0
# fails the job, and the exit code says why (see `mailshift --help`):
# 2 configuration, 3 out of order, 4 some users/messages failed,
# 5 verification differences, 10 state file problem.
set -euo pipefail
cd "$(dirname "$0")"
state="${MAILSHIFT_STATE:-ci-mailshift.db}"
rm -f "$state" "$state-wal" "$state-shm"      # every CI run starts afresh
ms() { mailshift --state "$state" --log-format json "$@"; }

ms collect
ms approve --yes --by "CI ${CI_JOB_ID:-local}"
status=0
ms test || status=$?
ms status --json > status.json
ms report --format md --output report.md
ms test --cleanup                             # leave the target as it was
exit "$status"
