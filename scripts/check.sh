#!/bin/sh
# Second README command: the whole test suite, twice - a normal -Werror build
# (plus make distcheck) and an ASan+UBSan build. Exits non-zero on any failure.
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

echo "== ASan + UBSan build"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
run build-check-asan CFLAGS="-O1 -g -fno-omit-frame-pointer $san" \
	LDFLAGS="$san"
echo "all tests passed (normal and ASan+UBSan)"
