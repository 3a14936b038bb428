#!/bin/sh
# First README command: install what a fresh Debian 12 lacks (as root),
# build quire, and run a short demo of the command-line tool.
set -eu
cd "$(dirname "$0")/.."

# lcov: for make coverage (configure --enable-coverage)
pkgs="autoconf automake libtool pkg-config make gcc libcmocka-dev liblmdb-dev libsqlite3-dev lcov"
missing=""
for p in $pkgs; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "quickstart: missing packages:$missing (run as root to install)" >&2
		exit 1
	fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

log=$(pwd)/build.log
quiet() { "$@" >>"$log" 2>&1 || { cat "$log"; exit 1; }; }
: >"$log"
[ -x configure ] || quiet ./autogen.sh
mkdir -p build
cd build
[ -f Makefile ] || quiet ../configure --enable-werror
quiet make -j"$(nproc)"
echo "built: build/tools/quire, build/.libs/libquire.so (log: build.log)"

db=$(mktemp -d)/demo.quire
q=./tools/quire
set -x
$q put "$db" greeting "hello, world"
$q get "$db" greeting
printf 'fruit:apple\tred\nfruit:banana\tyellow\nfruit:cherry\tdark red\nveg:kale\tgreen\n' | $q load "$db"
$q scan "$db" --prefix fruit:
$q del "$db" fruit:banana
$q scan "$db" --reverse --limit 2
$q stat "$db"
$q check "$db"
