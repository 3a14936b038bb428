#!/bin/sh
# cli.sh - tests of the quire command-line tool, TAP output.
# Needs QUIRE_BIN (the built tool) and QUIRE_TEST_DIR (scratch space); run
# by `make check`.
set -u
Q=${QUIRE_BIN:?QUIRE_BIN not set}
T=${QUIRE_TEST_DIR:-/tmp}/cli.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
n=0
fails=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
# check DESC CMD...: the command must succeed
check() { d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# status WANT DESC CMD...: the command's exit status must be WANT
status() {
	want=$1 d=$2; shift 2
	"$@" >"$T/out" 2>"$T/err"; got=$?
	if [ "$got" = "$want" ]; then ok "$d"; else
		not_ok "$d (exit $got, want $want)"; sed 's/^/# /' "$T/err"; fi
}
# same DESC FILE TEXT: file content must equal text (plus a newline)
same() {
	printf '%s\n' "$3" >"$T/want"
	if cmp -s "$2" "$T/want"; then ok "$1"; else
		not_ok "$1"; diff "$T/want" "$2" | sed 's/^/# /'; fi
}

D=$T/a.quire

# --- put / get / del and their exit statuses ---------------------------
status 2 "get on a missing database fails" "$Q" get "$D" k
check "reading commands do not create the database" test ! -e "$D"
status 0 "put creates the database" "$Q" put "$D" greeting "hello, world"
status 0 "get finds the key" "$Q" get "$D" greeting
same "get prints the value" "$T/out" "hello, world"
status 1 "get of a missing key exits 1" "$Q" get "$D" nope
status 0 "put replaces a value" "$Q" put "$D" greeting "hi"
"$Q" get "$D" greeting >"$T/out"
same "the new value is read" "$T/out" "hi"
status 0 "del removes a key" "$Q" del "$D" greeting
status 1 "del of a missing key exits 1" "$Q" del "$D" greeting
status 1 "a deleted key is gone" "$Q" get "$D" greeting
status 0 "empty key and empty value" "$Q" put "$D" "" ""
status 0 "the empty key is found" "$Q" get "$D" ""
same "its value is empty" "$T/out" ""
status 2 "a usage error exits 2" "$Q" put "$D" onlykey
check "usage errors explain themselves" grep -q "put needs" "$T/err"
status 2 "an unknown command exits 2" "$Q" frobnicate "$D"
status 2 "an unknown option exits 2" "$Q" --frob get "$D" k

# --- errors name the file and the reason --------------------------------
printf 'not a database at all, just some text that is long enough\n' >"$T/text"
status 2 "a foreign file is refused" "$Q" get "$T/text" k
check "the message names the file" grep -q "$T/text" "$T/err"
check "the message says why" grep -qi "not a quire database" "$T/err"
check "the foreign file is untouched" grep -q "just some text" "$T/text"
status 2 "put into a directory fails" "$Q" put "$T" k v

# --- scan ----------------------------------------------------------------
S=$T/s.quire
printf 'a\t1\nb\t2\nba\t3\nbb\t4\nbc\t5\nc\t6\nd\t7\n' | "$Q" load "$S"
"$Q" scan "$S" >"$T/out"
same "scan prints every key in order" "$T/out" "$(printf 'a\t1\nb\t2\nba\t3\nbb\t4\nbc\t5\nc\t6\nd\t7')"
"$Q" scan "$S" --prefix b >"$T/out"
same "--prefix" "$T/out" "$(printf 'b\t2\nba\t3\nbb\t4\nbc\t5')"
"$Q" scan "$S" --start bb >"$T/out"
same "--start is inclusive" "$T/out" "$(printf 'bb\t4\nbc\t5\nc\t6\nd\t7')"
"$Q" scan "$S" --end bb >"$T/out"
same "--end is exclusive" "$T/out" "$(printf 'a\t1\nb\t2\nba\t3')"
"$Q" scan "$S" --start ba --end c --reverse >"$T/out"
same "--start --end --reverse" "$T/out" "$(printf 'bc\t5\nbb\t4\nba\t3')"
"$Q" scan "$S" --prefix b --reverse --limit 2 >"$T/out"
same "--prefix --reverse --limit" "$T/out" "$(printf 'bc\t5\nbb\t4')"
"$Q" scan "$S" --limit=3 >"$T/out"
same "--limit=N" "$T/out" "$(printf 'a\t1\nb\t2\nba\t3')"
"$Q" scan --reverse "$S" >"$T/out"
same "options before the database" "$T/out" "$(printf 'd\t7\nc\t6\nbc\t5\nbb\t4\nba\t3\nb\t2\na\t1')"
status 0 "an empty range is no error" "$Q" scan "$S" --prefix zz
check "and prints nothing" test ! -s "$T/out"
status 0 "a reversed range is no error" "$Q" scan "$S" --start c --end b
check "and prints nothing" test ! -s "$T/out"
status 2 "--limit needs a number" "$Q" scan "$S" --limit x

# --- dump | load round trip, byte for byte -----------------------------
R=$T/r.quire
printf 'tab\there' >"$T/k1"
printf 'line1\nline2\\back' >"$T/v1"
printf '\001\002\033\177\377\376' >"$T/k2"
printf 'caf\303\251 \342\202\254 \360\237\230\200' >"$T/v2"   # UTF-8
printf '\303' >"$T/v3"                                  # broken UTF-8
"$Q" put "$R" "$(cat "$T/k1")" "$(cat "$T/v1")"
"$Q" put "$R" "$(cat "$T/k2")" "$(cat "$T/v2")"
"$Q" put "$R" "utf8-broken" "$(cat "$T/v3")"
"$Q" put "$R" "empty" ""
"$Q" put "$R" "back\\slash\\" "x\\y"
"$Q" dump "$R" >"$T/dump1"
check "dump escapes tab, newline and backslash" grep -q 'tab\\there	line1\\nline2\\\\back' "$T/dump1"
check "dump escapes control bytes as \\xHH" grep -q '\\x01\\x02\\x1b\\x7f\\xff\\xfe' "$T/dump1"
check "valid UTF-8 passes through" grep -q "$(cat "$T/v2")" "$T/dump1"
check "invalid UTF-8 is escaped" grep -q 'utf8-broken	\\xc3$' "$T/dump1"
"$Q" load "$T/r2.quire" <"$T/dump1"
"$Q" dump "$T/r2.quire" >"$T/dump2"
check "load reads dump back byte for byte" cmp -s "$T/dump1" "$T/dump2"
"$Q" get "$T/r2.quire" "$(cat "$T/k1")" >"$T/out"
printf 'line1\nline2\\back\n' >"$T/want"
check "a value with a newline survives the round trip" cmp -s "$T/out" "$T/want"
printf 'k\tv' | "$Q" load "$T/r4.quire"
status 0 "a last line without a newline loads" "$Q" get "$T/r4.quire" k
same "with its value" "$T/out" "v"

# --- load: batches and malformed input ---------------------------------
L=$T/l.quire
seq 1 10 | sed 's/.*/k&\tv&/' | "$Q" load --batch 3 -v "$L" 2>"$T/err"
check "load --batch commits per batch" grep -q "10 keys in 4 commits" "$T/err"
"$Q" stat "$L" --json >"$T/out"
check "four commits were made" grep -q '"txn":4,' "$T/out"
status 2 "a line without a tab fails" sh -c "printf 'a\\t1\\nb\\t2\\nbroken\\nc\\t3\\n' | '$Q' load --batch 2 '$T/m.quire'"
check "the error names the line" grep -q "line 3" "$T/err"
status 0 "the batch before the bad line was committed" "$Q" get "$T/m.quire" b
status 1 "nothing after it was" "$Q" get "$T/m.quire" c
status 2 "a bad escape fails" sh -c "printf 'a\\\\q\\t1\\n' | '$Q' load '$T/e.quire'"
status 2 "an extra tab fails" sh -c "printf 'a\\t1\\t2\\n' | '$Q' load '$T/e2.quire'"
status 2 "--batch 0 is refused" "$Q" load --batch 0 "$L"

# --- stat -----------------------------------------------------------------
"$Q" stat "$S" >"$T/out"
check "stat shows the key count" grep -q "^keys: *7$" "$T/out"
check "stat shows the file bytes" grep -q "^file bytes: *[0-9]" "$T/out"
"$Q" stat --json "$S" >"$T/out"
for f in txn seq keys file_bytes live_bytes time time_ns oplog_bytes depth; do
	check "stat --json has $f" grep -q "\"$f\":" "$T/out"
done
check "stat --json counts the keys" grep -q '"keys":7,' "$T/out"

# --- check ------------------------------------------------------------------
status 0 "check passes a healthy database" "$Q" check "$S"
check "and says so" grep -q "no problems" "$T/out"
B=$T/big.quire
i=0
while [ $i -lt 40 ]; do echo "key$i	$(printf '%0200d' $i)"; i=$((i + 1)); done |
	"$Q" load "$B"
size=$(wc -c <"$B")
# flip a byte in the middle of the nodes (the superblock is the first 4096)
off=$(( 4096 + (size - 4096) / 3 ))
printf '\377' | dd of="$B" bs=1 seek=$off conv=notrunc 2>/dev/null
"$Q" check "$B" >"$T/out" 2>"$T/err"; rc=$?
if [ $rc = 1 ] || [ $rc = 2 ]; then ok "check reports damage (exit $rc)"; else
	not_ok "check reports damage (exit $rc)"; fi
check "the report names an offset" grep -qi "offset [0-9]" "$T/out" "$T/err"

# --- writer lock between processes -----------------------------------------
W=$T/w.quire
"$Q" put "$W" first 1
mkfifo "$T/fifo"
"$Q" load "$W" <"$T/fifo" &
holder=$!
exec 3>"$T/fifo"
printf 'held\tyes\n' >&3      # the loader now holds the writer lock
sleep 1
status 2 "--no-wait fails while another process writes" "$Q" --no-wait put "$W" k v
check "and says the database is busy" grep -qi "busy" "$T/err"
( sleep 1; exec 3>&- ) &
exec 3>&-
status 0 "without --no-wait put waits for the writer" "$Q" put "$W" k v
wait $holder
status 0 "the holder's commit landed" "$Q" get "$W" held
status 0 "and so did the waiting put" "$Q" get "$W" k

# --- help and version ---------------------------------------------------------
status 0 "--help exits 0" "$Q" --help
check "--help lists every command" sh -c "for c in put get del scan load dump stat check; do grep -q \"  \$c \" '$T/out' || exit 1; done"
status 0 "--version exits 0" "$Q" --version
check "--version names the version" grep -q "^quire [0-9]" "$T/out"
status 2 "no command is a usage error" "$Q"

echo "1..$n"
exit 0
