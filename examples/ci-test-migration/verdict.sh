#!/usr/bin/env bash
# verdict.sh CODE [STEP]: turns a mailshift exit code into the CI job's
# verdict, with a line that says why. Used as `mailshift ... || ./verdict.sh $? STEP`.
#
#   0    pass
#   4    partial: some users or messages failed (named in status.json and the
#        report). Fails the job unless MAILSHIFT_PARTIAL=warn, which passes it
#        with a warning: choose warn when a test user with a known bad
#        message must not block every change of the setup.
#   1    failed: no user reached the servers (staging down, firewall), or the
#        state file or disk failed
#   2    configuration or usage error: the message names the file, line or key
#   3    out of order: a step's prerequisite is missing
#   5    verification found differences between source and target
#   10   the state file is locked by another run, corrupt, or too new
#   130  interrupted (the job was cancelled)
set -u
code="${1:?usage: verdict.sh CODE [STEP]}"
step="${2:-mailshift}"

say() { # level text
	if [ "${GITHUB_ACTIONS:-}" = true ]; then
		echo "::$1::$step: $2"
	else
		echo "$1: $step: $2" >&2
	fi
}

case "$code" in
0) exit 0 ;;
4)
	if [ "${MAILSHIFT_PARTIAL:-fail}" = warn ]; then
		say warning "exit 4: some users or messages failed; see status.json and reports/ (MAILSHIFT_PARTIAL=warn passes the job)"
		exit 0
	fi
	say error "exit 4: some users or messages failed; see status.json and reports/ (set MAILSHIFT_PARTIAL=warn to pass with a warning)"
	;;
1) say error "exit 1: failed: the servers could not be reached, or the state or disk failed; see reports/logs/" ;;
2) say error "exit 2: configuration or usage error (the message above names the file, line or key)" ;;
3) say error "exit 3: out of order: a step's prerequisite is missing" ;;
5) say error "exit 5: verification found differences between source and target; see reports/" ;;
10) say error "exit 10: the state file is locked by another run, corrupt, or from a newer mailshift" ;;
130) say error "exit 130: interrupted" ;;
*) say error "exit $code" ;;
esac
exit "$code"
