#!/bin/sh
# Second README command: the whole test suite, twice - a normal -Werror build
# (plus make distcheck) and an ASan+UBSan build - then the threaded tests
# under ThreadSanitizer. Exits non-zero on any failure.
set -eu
cd "$(dirname "$0")/.."
[ -x configure ] || ./autogen.sh >/dev/null 2>&1
jobs=$(nproc)

run() {
	dir=$1
	shift
	mkdir -p "$dir"
	(cd "$dir" && ../configure --enable-werror "$@" >/dev/null &&
		make -j"$jobs" >/dev/null &&
		if ! make -j"$jobs" check; then
			cat test-suite.log
			exit 1
		fi)
}

echo "== normal build"
run build-check CFLAGS="-O2 -g"
(cd build-check && make -j"$jobs" distcheck >/dev/null && echo "distcheck: ok")
# One-way layers (HACKING.md): no cycle between the files of lib/ or tools/.
sh scripts/layers.sh lib build-check/lib/.libs/*.o
sh scripts/layers.sh tools build-check/tools/*.o

echo "== ASan + UBSan build"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
run build-check-asan CFLAGS="-O1 -g -fno-omit-frame-pointer $san" \
	LDFLAGS="$san"

# Readers, the writer and quire_wait followers in threads (and processes)
# under ThreadSanitizer: the lock-free parts (cache.c epochs, memtable.c,
# snapshot publication in db.c) must show no race. Only the multi-threaded
# tests (grep pthread_create tests/) are built and run: the rest adds time
# and nothing for TSan. halt_on_error: any report fails the test at once.
echo "== ThreadSanitizer build (threaded tests)"
tsan="-fsanitize=thread"
# One line: a newline inside a make variable on the command line ends the recipe.
tsan_tests="tests/test_threads tests/test_history tests/test_compact tests/test_cache tests/test_races tests/test_stress tests/test_clock tests/test_stream tests/test_keyspace"
mkdir -p build-check-tsan
(cd build-check-tsan &&
	../configure --enable-werror CFLAGS="-O1 -g $tsan" \
		LDFLAGS="$tsan" >/dev/null &&
	make -j"$jobs" >/dev/null &&
	if ! TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
		make -j"$jobs" check TESTS="$tsan_tests" \
			check_PROGRAMS="$tsan_tests"; then
		cat test-suite.log
		exit 1
	fi)
echo "all tests passed (normal, ASan+UBSan, TSan)"
