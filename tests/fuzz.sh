#!/bin/sh
# fuzz.sh - replay the fuzz corpus and the regression inputs, TAP output.
# Runs each fuzz target's plain driver (tests/fuzz/<target>, built without
# libFuzzer) over tests/fuzz/corpus/<target>/ and tests/fuzz/regress/<target>/
# of the source tree; run by `make check`. A crashing input kills the driver:
# its last "running" line names the input.
set -u
src=${srcdir:-.}
targets="fuzz_file fuzz_decode fuzz_ops"
echo "1..6"
n=0
fails=0
for t in $targets; do
	for set in corpus regress; do
		n=$((n + 1))
		dir=$src/tests/fuzz/$set/$t
		if [ ! -x "tests/fuzz/$t" ]; then
			echo "not ok $n - $t $set: tests/fuzz/$t not built"
			fails=$((fails + 1))
			continue
		fi
		if out=$("tests/fuzz/$t" "$dir" 2>&1); then
			echo "ok $n - $t $set: $(printf '%s\n' "$out" | tail -n 1)"
		else
			echo "not ok $n - $t $set"
			printf '%s\n' "$out" | tail -n 40 | sed 's/^/# /'
			fails=$((fails + 1))
		fi
	done
done
[ "$fails" -eq 0 ]
