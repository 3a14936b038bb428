#!/bin/sh
# readme.sh - runs README.md's C example (cut out and compiled by make as
# tests/readme_example) in a scratch directory: it must print the value it
# stored and exit 0. TAP output; run by `make check`.
set -u
B=${QUIRE_BUILDDIR:-$(pwd)}
T=${QUIRE_TEST_DIR:-/tmp}/readme.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
echo "1..2"
if out=$(cd "$T" && "$B/tests/readme_example" 2>&1) && [ "$out" = alice ]; then
	echo "ok 1 - the README example prints what it stored"
else
	echo "not ok 1 - the README example printed: $out"
fi
# a second run opens the file the first created
if out=$(cd "$T" && "$B/tests/readme_example" 2>&1) && [ "$out" = alice ] &&
	[ -s "$T/app.quire" ]; then
	echo "ok 2 - and again on the database it created"
else
	echo "not ok 2 - second run printed: $out"
fi
