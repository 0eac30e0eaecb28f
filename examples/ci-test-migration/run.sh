#!/usr/bin/env bash
# CI test migration for any CI system: collect, approve, test, keep the
# evidence, clean up. The job's exit code is mailshift's, as verdict.sh
# reads it (4 passes with MAILSHIFT_PARTIAL=warn). The evidence is written
# whatever happened: status.json, reports/ (the reports and reports/logs/,
# every run's JSON Lines log). github-actions.yml and gitlab-ci.yml do the
# same in their own terms.
set -uo pipefail
cd "$(dirname "$0")"
state="${MAILSHIFT_STATE:-ci-mailshift.db}"
rm -f "$state" "$state-wal" "$state-shm" "$state.lock" # every CI run starts afresh
ms() { mailshift --state "$state" --log-format json "$@"; }

status=0
ms collect || status=$?
if [ "$status" -eq 0 ]; then
	ms approve --yes --by "CI ${CI_JOB_ID:-local}" || status=$?
fi
tested=no
if [ "$status" -eq 0 ]; then
	tested=yes
	ms test || status=$?
fi

# The evidence, even when a step failed.
ms status --json >status.json || true
ms report --format md --output reports/report.md || true
ms report --format html --output reports/report.html || true
if [ "$tested" = yes ]; then
	ms test --cleanup || true # leave the target as it was
fi
./verdict.sh "$status" mailshift
