#!/bin/sh
# make check: the Python binding's pytest suite against the extension just
# built (bindings/python/quire/ of the build directory), as one TAP test;
# pytest's output goes into the log as TAP comments.
#
# Sanitizer builds: the extension is instrumented but the python running
# it is not. With ASan the runtime must come first in the process, so it is
# preloaded (leak detection off: the interpreter keeps memory at exit);
# under TSan the suite is skipped (an uninstrumented interpreter's threads
# are invisible to it).
# Environment (from make check): PYTHON, QUIRE_CC, QUIRE_TEST_DIR, srcdir.
set -u
srcdir=${srcdir:-.}
PYTHON=${PYTHON:-python3}
builddir=$(pwd)
pkg=$builddir/bindings/python

skip() {
	echo "1..0 # SKIP $1"
	exit 0
}

ext=$(ls "$pkg"/quire/_quire*.so 2>/dev/null | head -n 1)
[ -n "$ext" ] || skip "extension not built (make python)"
needed=$(LC_ALL=C readelf -d "$ext" 2>/dev/null)
preload=
case $needed in
*libtsan*)
	skip "ThreadSanitizer build: an uninstrumented python cannot host the extension"
	;;
*libasan*)
	lib=$(${QUIRE_CC:-gcc} -print-file-name=libasan.so)
	[ -f "$lib" ] || skip "ASan build but no libasan.so to preload"
	preload=$lib
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	export ASAN_OPTIONS
	;;
esac

base=${QUIRE_TEST_DIR:-$builddir/tests/tmp}/python
mkdir -p "$base"
log=$base.out
PYTHONPATH=$pkg${PYTHONPATH:+:$PYTHONPATH} PYTHONDONTWRITEBYTECODE=1 \
	PYTHONMALLOC=malloc LD_PRELOAD=$preload \
	"$PYTHON" -m pytest -v -p no:cacheprovider --basetemp="$base" \
	"$srcdir/bindings/python/tests" >"$log" 2>&1
rc=$?
echo "1..1"
sed 's/^/# /' "$log"
summary=$(tail -n 1 "$log" | tr -d = | sed 's/^ *//; s/ *$//')
if [ $rc -eq 0 ]; then
	echo "ok 1 - pytest bindings/python/tests: $summary"
else
	echo "not ok 1 - pytest bindings/python/tests (exit $rc): $summary"
fi
