#!/bin/sh
# examples.sh - runs the example programs (examples/) as tests, TAP output.
# Each example checks its own results and exits non-zero on a mismatch; this
# runs each in a fresh scratch directory and shows its output as comments.
# Run by `make check` from the build directory (QUIRE_TEST_DIR: scratch).
set -u
EX=${QUIRE_EXAMPLES:-$(pwd)/examples}
T=${QUIRE_TEST_DIR:-/tmp}/examples.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
progs="event-store config-store"
n=0
fails=0
set -- $progs
echo "1..$#"
for p in $progs; do
	n=$((n + 1))
	mkdir "$T/$p"
	if (cd "$T/$p" && "$EX/$p") >"$T/$p.out" 2>&1; then
		echo "ok $n - $p"
	else
		st=$?
		fails=$((fails + 1))
		echo "not ok $n - $p (exit $st)"
	fi
	sed 's/^/# /' "$T/$p.out"
done
[ "$fails" = 0 ]
