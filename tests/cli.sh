#!/bin/sh
# cli.sh - tests of the quire command-line tool, TAP output.
# Needs QUIRE_BIN (the built tool) and QUIRE_TEST_DIR (scratch space); run
# by `make check`.
set -u
Q=${QUIRE_BIN:?QUIRE_BIN not set}
T=${QUIRE_TEST_DIR:-/tmp}/cli.$$
mkdir -p "$T"
bg=""   # background processes still running (followers)
trap 'for p in $bg; do kill "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
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
same "load --batch commits per batch, -v says so" "$T/err" "quire: $L: 10 puts and 0 deletes in 4 commits; 10 keys in the database"
"$Q" stat "$L" --json >"$T/out"
check "four commits were made" grep -q '"txn":4,' "$T/out"
"$Q" put "$T/m.quire" old 1
status 2 "a line without a tab fails" sh -c "printf 'a\\t1\\nb\\t2\\nbroken\\nc\\t3\\n' | '$Q' load --batch 2 '$T/m.quire'"
same "the error names the line" "$T/err" "quire: stdin line 3: no tab between key and value"
status 0 "into an existing file, the batch before the bad line was committed" "$Q" get "$T/m.quire" b
status 1 "nothing after it was" "$Q" get "$T/m.quire" c
status 2 "a bad escape fails" sh -c "printf 'a\\\\q\\t1\\n' | '$Q' load '$T/e.quire'"
status 2 "an extra tab fails" sh -c "printf 'a\\t1\\t2\\n' | '$Q' load '$T/e2.quire'"
status 2 "--batch 0 is refused" "$Q" load --batch 0 "$L"

# --- stat -----------------------------------------------------------------
"$Q" stat "$S" >"$T/out"
check "stat shows the key count" grep -q "^keys: *7$" "$T/out"
check "stat shows the file bytes" grep -q "^file bytes: *[0-9]" "$T/out"
"$Q" stat --json "$S" >"$T/out"
for f in txn seq keys file_bytes live_bytes time time_ns oplog_bytes depth garbage_ratio history_txn history_seq; do
	check "stat --json has $f" grep -q "\"$f\":" "$T/out"
done
check "stat --json counts the keys" grep -q '"keys":7,' "$T/out"
check "stat --json: all history is there before compaction" grep -q '"history_txn":0,"history_seq":1}$' "$T/out"
"$Q" stat "$S" >"$T/out"
check "stat shows the oldest commit and operation kept" sh -c "grep -q '^oldest txn: *0$' '$T/out' && grep -q '^oldest seq: *1$' '$T/out'"

# --- stat: the retention policy and the space figures -----------------------
P=$T/p.quire
"$Q" put "$P" k v0                                  # txn 1
"$Q" stat "$P" >"$T/out"
check "stat shows the policy of a new file: the newest commit" grep -q "^keep: *newest 1 commit$" "$T/out"
check "stat shows the raw key and value bytes" grep -q "^raw bytes: *3 (keys and values of the live keys)$" "$T/out"
for l in "live bytes" "history bytes" "kept bytes" "file bytes" "pinned bytes"; do
	check "stat shows $l" grep -q "^$l: *[0-9]" "$T/out"
done
check "stat shows the reclaimable bytes and their share" grep -q "^reclaimable: *[0-9]* bytes, [0-9.]*% of the file (what compaction would free)$" "$T/out"
check "no snapshot of another file is pinned" grep -q "^pinned bytes: *0 " "$T/out"
check "stat no longer speaks of garbage" sh -c "! grep -qi garbage '$T/out'"
"$Q" stat --json "$P" >"$T/out"
for f in keep_all keep_last keep_for_ns raw_bytes history_bytes kept_bytes reclaimable_bytes pinned_bytes; do
	check "stat --json has $f" grep -q "\"$f\":" "$T/out"
done
check "stat --json: the policy" grep -q '"keep_all":false,"keep_last":1,"keep_for_ns":0,' "$T/out"
if command -v python3 >/dev/null 2>&1; then
	check "stat --json parses, and its figures agree" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("txn", "seq", "keys", "live_bytes", "file_bytes", "oplog_bytes",
          "history_txn", "history_seq", "raw_bytes", "history_bytes",
          "kept_bytes", "reclaimable_bytes", "pinned_bytes", "keep_for_ns"):
    assert type(d[k]) is int, k
assert d["txn"] == 1 and d["keys"] == 1 and d["raw_bytes"] == 3
assert d["keep_all"] is False and d["keep_last"] == 1
assert d["history_bytes"] <= d["kept_bytes"]
assert d["reclaimable_bytes"] == max(0, d["file_bytes"] - d["kept_bytes"])
assert abs(d["garbage_ratio"] - d["reclaimable_bytes"] / d["file_bytes"]) < 1e-5
assert d["pinned_bytes"] == 0
' "$T/out"
else
	n=$((n + 1)); echo "ok $n # SKIP no python3 to parse JSON"
fi

# --- retention: show and set the policy -------------------------------------
status 0 "retention exits 0" "$Q" retention "$P"
same "and prints the policy of a new file" "$T/out" "keep: newest 1 commit"
status 0 "retention --keep-last 3 --keep-for 36h exits 0" "$Q" retention "$P" --keep-last 3 --keep-for 36h
same "and prints the new policy" "$T/out" "keep: newest 3 commits, and those of the last 36h"
"$Q" retention "$P" >"$T/out"
same "which another process reads back" "$T/out" "keep: newest 3 commits, and those of the last 36h"
"$Q" stat "$P" >"$T/out"
check "stat shows it" grep -q "^keep: *newest 3 commits, and those of the last 36h$" "$T/out"
"$Q" retention --json "$P" >"$T/out"
check "retention --json" grep -q '^{"path":"[^"]*","keep_all":false,"keep_last":3,"keep_for_ns":129600000000000}$' "$T/out"
"$Q" history "$P" >"$T/out"
check "setting the policy is a commit of its own, without operations" grep -q "^2	[^	]*	-	0	" "$T/out"
"$Q" stat --as-of 1 "$P" >"$T/out"
check "each commit records the policy: --as-of 1 has the old one" grep -q "^keep: *newest 1 commit$" "$T/out"
cp "$P" "$T/p.before"
status 0 "setting the policy in force again exits 0" "$Q" retention --keep-for=36h --keep-last=3 "$P"
check "and commits nothing" cmp -s "$P" "$T/p.before"
for d in 90:90s 90s:90s 59m:59m 120m:2h 12h:12h 48h:2d 7d:7d 3600:1h; do
	"$Q" retention "$P" --keep-for "${d%:*}" >"$T/out"
	same "--keep-for ${d%:*} alone keeps the newest commit and those of the last ${d#*:}" "$T/out" "keep: newest 1 commit, and those of the last ${d#*:}"
done
status 0 "retention --keep-all exits 0" "$Q" retention "$P" --keep-all
same "and keeps every commit" "$T/out" "keep: every commit"
"$Q" stat --json "$P" >"$T/out"
check "stat --json of --keep-all" grep -q '"keep_all":true,"keep_last":null,"keep_for_ns":0,' "$T/out"
"$Q" retention --keep-last 1 "$P" >"$T/out"
same "retention --keep-last 1: the newest commit again" "$T/out" "keep: newest 1 commit"
"$Q" get "$P" k >"$T/out"
same "the data is as it was" "$T/out" "v0"

# refusals: one line saying why, and the file byte for byte as it was
cp "$P" "$T/p.before"
for a in "--keep-last 0" "--keep-last -1" "--keep-last x" "--keep-last=3x" \
	"--keep-for 0" "--keep-for 0d" "--keep-for -5" "--keep-for x" \
	"--keep-for 5x" "--keep-for 1w" "--keep-for 1.5h" "--keep-for h" \
	"--keep-for 99999999999999999999" "--keep-for 214000d" \
	"--keep-all --keep-last 2" "--keep-for 1h --keep-all" \
	"--keep-last 2 --keep-for 1h --keep-all" "--keep-for"; do
	status 2 "retention $a is refused" "$Q" retention "$P" $a
	check "in one line saying why" sh -c "test \$(wc -l <'$T/err') = 1 && grep -q '^quire: --keep-' '$T/err'"
done
status 2 "retention --keep-all --keep-last 2 is refused" "$Q" retention "$P" --keep-all --keep-last 2
check "with the reason" grep -q "^quire: --keep-all keeps every commit: it does not combine with --keep-last or --keep-for$" "$T/err"
status 2 "retention --keep-for 5x is refused" "$Q" retention "$P" --keep-for 5x
check "saying what a duration is" grep -q "^quire: --keep-for needs a duration > 0: seconds, or a number with s, m, h or d after it" "$T/err"
check "the refusals left the file byte for byte as it was" cmp -s "$P" "$T/p.before"
status 2 "retention needs DB" "$Q" retention
check "and says so" grep -q "retention needs DB" "$T/err"
status 2 "retention takes one DB" "$Q" retention "$P" "$T/p2.quire"
status 2 "retention does not take --as-of" "$Q" retention --as-of 1 "$P"
status 2 "--keep-for is refused by other commands" "$Q" put --keep-for 1h "$P" k w
check "with a reason" grep -q "put does not take --keep-for" "$T/err"
status 2 "--keep-all too" "$Q" stat --keep-all "$P"
status 2 "retention does not take --auto" "$Q" retention --auto "$P"
check "and the file is still as it was" cmp -s "$P" "$T/p.before"
status 2 "retention of a missing file fails" "$Q" retention "$T/none.quire"
status 2 "setting the policy of a missing file fails" "$Q" retention --keep-last 2 "$T/none.quire"
check "and does not create it" test ! -e "$T/none.quire"

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

# --- salvage ------------------------------------------------------------------
V=$T/val.quire
i=0
while [ $i -lt 30 ]; do echo "k$i	v$i"; i=$((i + 1)); done | "$Q" load "$V"
printf 'big\t%s\n' "$(printf '%03000d' 7 | tr 0 Z)" | "$Q" load "$V"
status 0 "salvage of a healthy database exits 0" "$Q" salvage "$V" "$T/v1.quire"
"$Q" dump "$V" >"$T/d0"; "$Q" dump "$T/v1.quire" >"$T/d1"
check "and copies everything" cmp -s "$T/d0" "$T/d1"
status 2 "salvage refuses to overwrite" "$Q" salvage "$V" "$T/v1.quire"
# damage the out-of-line value of "big" (found by its bytes)
off=$(grep -obUa "ZZZZZZZZZZZZZZZZ" "$V" | head -1 | cut -d: -f1)
printf '\001' | dd of="$V" bs=1 seek=$((off + 100)) conv=notrunc 2>/dev/null
status 1 "check finds the damaged value" "$Q" check "$V"
check "and names its key" grep -q 'value block of "big"' "$T/out"
status 1 "salvage of the damaged file exits 1" "$Q" salvage "$V" "$T/v2.quire"
check "it says the value was lost" grep -q '"big" is damaged' "$T/out"
check "and counts it" grep -q "1 damaged values" "$T/out"
"$Q" dump "$T/v2.quire" >"$T/d2"
grep -v '^big	' "$T/d0" >"$T/d0b"
check "every other key was copied" cmp -s "$T/d0b" "$T/d2"

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
same "and says another process writes" "$T/err" "quire: $W: another process holds the writer lock"
( sleep 2.5; exec 3>&- ) &
exec 3>&-
status 0 "without --no-wait put waits for the writer" "$Q" put "$W" k v
same "and says once, after a second, that it waits" "$T/err" "quire: waiting for another process's writer on $W ..."
wait $holder
status 0 "the holder's commit landed" "$Q" get "$W" held
status 0 "and so did the waiting put" "$Q" get "$W" k

# --- history: the database the following sections read ---------------------
H=$T/h.quire
"$Q" put "$H" a 1                                   # txn 1, seq 1
"$Q" put "$H" b 2                                   # txn 2, seq 2
printf 'c\t3\nd\t4\n' | "$Q" load "$H"              # txn 3, seqs 3-4
"$Q" del "$H" a                                     # txn 4, seq 5
"$Q" put --meta "$(printf 'by\tme\001\377')" "$H" b "$(printf 'x\001y')" # txn 5
"$Q" put "$H" "$(printf 'tab\tkey')" "$(printf 'new\nline')"  # txn 6, seq 7
# one field of commit N's history --json line
hfield() { "$Q" history --json "$H" | grep "^{\"txn\":$1," |
	sed "s/.*\"$2\":\([0-9]*\).*/\1/"; }
# the commit time of txn N as @SECONDS.NANOSECONDS (ns given: that time)
at_ns() { sec=${1%?????????}; echo "@$sec.${1#"$sec"}"; }

# --- --as-of: reading old commits -----------------------------------------
"$Q" get --as-of 1 "$H" a >"$T/out"
same "get --as-of an old commit" "$T/out" "1"
status 1 "get --as-of a commit after the delete exits 1" "$Q" get "$H" a --as-of 4
"$Q" get --as-of=2 "$H" b >"$T/out"
same "get --as-of=N" "$T/out" "2"
"$Q" get "$H" b --as-of 5 >"$T/out"
printf 'x\001y\n' >"$T/want"
check "get --as-of the newest value" cmp -s "$T/out" "$T/want"
status 0 "dump --as-of 0 (the empty database as created)" "$Q" dump --as-of 0 "$H"
check "prints nothing" test ! -s "$T/out"
"$Q" dump --as-of 1 "$H" >"$T/out"
same "dump --as-of 1" "$T/out" "$(printf 'a\t1')"
"$Q" dump --as-of 3 "$H" >"$T/out"
same "dump --as-of 3 (after a load)" "$T/out" "$(printf 'a\t1\nb\t2\nc\t3\nd\t4')"
"$Q" dump --as-of 4 "$H" >"$T/out"
same "dump --as-of 4 (after a delete)" "$T/out" "$(printf 'b\t2\nc\t3\nd\t4')"
"$Q" dump --as-of 5 "$H" >"$T/out"
same "dump --as-of 5 escapes as dump does" "$T/out" "$(printf 'b\tx\\x01y\nc\t3\nd\t4')"
"$Q" dump "$H" >"$T/dump1"
"$Q" dump --as-of 6 "$H" >"$T/dump2"
check "dump --as-of the newest commit is dump" cmp -s "$T/dump1" "$T/dump2"
"$Q" scan --as-of 3 "$H" --start b --limit 2 >"$T/out"
same "scan --as-of with --start and --limit" "$T/out" "$(printf 'b\t2\nc\t3')"
"$Q" scan --as-of 4 "$H" --reverse >"$T/out"
same "scan --as-of --reverse" "$T/out" "$(printf 'd\t4\nc\t3\nb\t2')"
"$Q" stat --json --as-of 2 "$H" >"$T/out"
check "stat --as-of reports that commit" grep -q '"txn":2,.*"keys":2,"seq":3,' "$T/out"

# by time: the commit times come from history --json
ns2=$(hfield 2 time_ns)
"$Q" dump --as-of "$(at_ns "$ns2")" "$H" >"$T/out"
same "--as-of @TIME of a commit reads that commit" "$T/out" "$(printf 'a\t1\nb\t2')"
"$Q" dump --as-of "$(at_ns $((ns2 - 1)))" "$H" >"$T/out"
same "--as-of @TIME just before it reads the one before" "$T/out" "$(printf 'a\t1')"
ns4=$(hfield 4 time_ns); ns5=$(hfield 5 time_ns)
"$Q" get --as-of "$(at_ns $(( (ns4 + ns5) / 2 )))" "$H" b >"$T/out"
same "--as-of @TIME between two commits reads the earlier" "$T/out" "2"
"$Q" get --as-of @9999999999.5 "$H" b >"$T/out"
same "--as-of @TIME in the future reads the newest" "$T/out" "$(printf 'x\001y')"
status 1 "where a deleted key stays deleted" "$Q" get --as-of @9999999999.5 "$H" a
status 2 "--as-of @TIME before the first commit exits 2" "$Q" get --as-of @1 "$H" b
check "and says there was no commit then" grep -q "no commit .*1970-01-01T00:00:01" "$T/err"

# errors
status 2 "--as-of a commit not made yet exits 2" "$Q" get --as-of 7 "$H" b
check "the message names the file" grep -q "$H" "$T/err"
check "and the commit" grep -q "no commit 7 yet (the newest is 6)" "$T/err"
status 2 "dump --as-of a commit not made yet exits 2" "$Q" dump --as-of 100 "$H"
status 2 "--as-of needs a number" "$Q" get --as-of x "$H" b
check "and says so" grep -q "as-of needs" "$T/err"
status 2 "--as-of @ needs a time" "$Q" get --as-of @ "$H" b
status 2 "--as-of @TIME needs digits after the point" "$Q" get --as-of @1. "$H" b
status 2 "--as-of rejects a negative time" "$Q" get --as-of @-1 "$H" b
status 2 "--as-of rejects an overflowing time" "$Q" get --as-of @99999999999999999999 "$H" b
status 2 "--as-of is refused by writing commands" "$Q" put --as-of 1 "$H" k v
check "with a reason" grep -q "put does not take --as-of" "$T/err"
status 1 "and nothing was written" "$Q" get "$H" k

# --- history ----------------------------------------------------------------
status 0 "history exits 0" "$Q" history "$H"
check "history lists every commit, txn 0 included" test "$(wc -l <"$T/out")" = 7
cut -f1 "$T/out" | paste -sd ' ' - >"$T/out2"
same "newest first" "$T/out2" "6 5 4 3 2 1 0"
check "a line: txn, ISO time, seqs, ops, bytes, meta" grep -q "^3	[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9:]*\.[0-9]\{9\}Z	3-4	2	[1-9][0-9]*	$" "$T/out"
check "a commit without operations" grep -q "^0	[^	]*	-	0	[0-9]*	$" "$T/out"
check "metadata is escaped as in dump" grep -q '^5	.*	6-6	1	[0-9]*	by\\tme\\x01\\xff$' "$T/out"
"$Q" history --limit 2 "$H" | cut -f1 >"$T/out"
same "history --limit" "$T/out" "$(printf '6\n5')"
"$Q" history --reverse "$H" | cut -f1 | paste -sd ' ' - >"$T/out"
same "history --reverse: oldest first" "$T/out" "0 1 2 3 4 5 6"
"$Q" history --reverse --limit=2 "$H" | cut -f1 >"$T/out"
same "history --reverse --limit: the oldest N" "$T/out" "$(printf '0\n1')"
"$Q" history --json "$H" >"$T/out"
check "history --json: one object per commit" test "$(grep -c '^{.*}$' "$T/out")" = 7
check "history --json has txn, time and ops" grep -q '^{"txn":3,"time":"[0-9-]*T[0-9:.]*Z","time_ns":[0-9]*,"first_seq":3,"next_seq":5,"ops":2,"bytes":[0-9]*,"meta":""}$' "$T/out"
check "history --json escapes metadata as JSON" grep -q '"txn":5,.*"meta":"by\\tme\\u0001\\udcff"}$' "$T/out"
check "history time matches stat" sh -c "'$Q' stat --json '$H' | grep -q '\"time_ns\":$(hfield 6 time_ns),'"
status 2 "history of a missing file exits 2" "$Q" history "$T/none.quire"

# --- changes ------------------------------------------------------------------
"$Q" changes "$H" >"$T/out"
same "changes: every operation, puts and deletes" "$T/out" "$(printf '1\t1\tput\ta\t1
2\t2\tput\tb\t2
3\t3\tput\tc\t3
4\t3\tput\td\t4
5\t4\tdel\ta
6\t5\tput\tb\tx\\x01y
7\t6\tput\ttab\\tkey\tnew\\nline')"
"$Q" changes --since 4 "$H" >"$T/out"
same "changes --since" "$T/out" "$(printf '5\t4\tdel\ta\n6\t5\tput\tb\tx\\x01y\n7\t6\tput\ttab\\tkey\tnew\\nline')"
"$Q" changes --since=1 --limit 2 "$H" >"$T/out"
same "changes --since=N --limit" "$T/out" "$(printf '2\t2\tput\tb\t2\n3\t3\tput\tc\t3')"
status 0 "changes --since the last seq" "$Q" changes --since 7 "$H"
check "prints nothing" test ! -s "$T/out"
status 0 "changes --since beyond the last seq" "$Q" changes --since 1000 "$H"
check "prints nothing" test ! -s "$T/out"
"$Q" changes --since 4 --json "$H" >"$T/out"
same "changes --json" "$T/out" '{"seq":5,"txn":4,"op":"del","key":"a"}
{"seq":6,"txn":5,"op":"put","key":"b","value":"x\u0001y"}
{"seq":7,"txn":6,"op":"put","key":"tab\tkey","value":"new\nline"}'
status 2 "--since needs a number" "$Q" changes --since x "$H"
check "and says so" grep -q "since needs" "$T/err"
status 2 "--since rejects a negative number" "$Q" changes --since -1 "$H"
status 2 "--since needs a value" "$Q" changes "$H" --since
status 2 "--since is refused by other commands" "$Q" dump --since 1 "$H"
status 2 "--follow is refused by other commands" "$Q" log --follow "$H" a

# --- log ------------------------------------------------------------------------
"$Q" log "$H" a >"$T/out"
cut -f1,2,4,5 "$T/out" >"$T/out2"
same "log: versions newest first, a tombstone included" "$T/out2" "$(printf '5\t4\tdel\n1\t1\tput\t1')"
check "log shows the commit times" sh -c "cut -f3 '$T/out' | grep -c '^[0-9-]*T[0-9:.]*Z$' | grep -qx 2"
check "log times are the commits'" grep -q "^5	4	$("$Q" history "$H" | grep '^4	' | cut -f2)	del$" "$T/out"
"$Q" log --limit 1 "$H" a | cut -f4 >"$T/out"
same "log --limit" "$T/out" "del"
"$Q" log "$H" b | cut -f1,2,4,5 >"$T/out"
same "log escapes values" "$T/out" "$(printf '6\t5\tput\tx\\x01y\n2\t2\tput\t2')"
"$Q" log --json "$H" b >"$T/out"
check "log --json" grep -q '^{"seq":6,"txn":5,"time":"[^"]*Z","time_ns":[0-9]*,"op":"put","value":"x\\u0001y"}$' "$T/out"
"$Q" log --json "$H" a >"$T/out"
check "log --json of a tombstone" grep -q '^{"seq":5,"txn":4,"time":"[^"]*","time_ns":[0-9]*,"op":"del"}$' "$T/out"
status 1 "log of a key never written exits 1" "$Q" log "$H" nope
check "and prints nothing" test ! -s "$T/out"
status 2 "log needs a key" "$Q" log "$H"

# --- diff -----------------------------------------------------------------------
"$Q" diff "$H" 2 5 >"$T/out"
same "diff A B: removed, changed, added" "$T/out" "$(printf -- '-\ta\t1\n~\tb\t2\tx\\x01y\n+\tc\t3\n+\td\t4')"
"$Q" diff "$H" 5 2 >"$T/out"
same "diff B A: the other way round" "$T/out" "$(printf -- '+\ta\t1\n~\tb\tx\\x01y\t2\n-\tc\t3\n-\td\t4')"
status 0 "diff of a commit with itself" "$Q" diff "$H" 3 3
check "prints nothing" test ! -s "$T/out"
"$Q" diff "$H" 0 6 >"$T/out"
same "diff from the empty database" "$T/out" "$(printf -- '+\tb\tx\\x01y\n+\tc\t3\n+\td\t4\n+\ttab\\tkey\tnew\\nline')"
"$Q" diff "$H" "$(at_ns "$ns2")" 5 >"$T/out2"
"$Q" diff "$H" 2 5 >"$T/out"
check "diff takes @TIME" cmp -s "$T/out" "$T/out2"
"$Q" diff --json "$H" 3 5 >"$T/out"
same "diff --json" "$T/out" '{"op":"removed","key":"a","a":"1"}
{"op":"changed","key":"b","a":"2","b":"x\u0001y"}'
status 2 "diff with a commit not made yet exits 2" "$Q" diff "$H" 1 99
check "and names it" grep -q "no commit 99 yet" "$T/err"
status 2 "diff with a malformed commit exits 2" "$Q" diff "$H" 1 x
status 2 "diff needs two commits" "$Q" diff "$H" 1

# --- stat --json of the history database ---------------------------------------
"$Q" stat --json "$H" >"$T/out"
check "stat --json: txn, seq, keys, file_bytes, live_bytes" grep -q '"txn":6,.*"keys":4,"seq":8,"live_bytes":[0-9]*,"file_bytes":[0-9]*,' "$T/out"
fb=$(sed "s/.*\"file_bytes\":\([0-9]*\).*/\1/" "$T/out")
check "file_bytes is within the file" test "$fb" -gt 4096 -a "$fb" -le "$(wc -c <"$H")"

# --- changes --follow -------------------------------------------------------
now_ms() { t=$(date +%s%N); case $t in *N) echo $(( $(date +%s) * 1000 ));; *) echo $((t / 1000000));; esac; }
# wait_for PATTERN FILE: poll up to 5 s for a line; 0 if it appeared
wait_for() { i=0; while [ $i -lt 500 ]; do grep -q "$1" "$2" && return 0; sleep 0.01; i=$((i + 1)); done; return 1; }
# gone PID: poll up to 5 s for the process to end
gone() { i=0; while [ $i -lt 500 ]; do kill -0 "$1" 2>/dev/null || return 0; sleep 0.01; i=$((i + 1)); done; return 1; }
F=$T/follow.out
"$Q" changes --since 6 --follow "$H" >"$F" 2>"$T/ferr" &
fpid=$!; bg="$bg $fpid"
check "the follower prints what is there at once" wait_for "^7	6	put	tab" "$F"
sleep 1   # let it settle into waiting
"$Q" put "$H" live yes
t0=$(now_ms)
if wait_for "^8	7	put	live	yes$" "$F"; then
	ok "a follower prints a new commit (within 5 s)"
	echo "# follow latency: $(( $(now_ms) - t0 )) ms"
else
	not_ok "a follower prints a new commit (within 5 s)"
fi
printf 'm1\tx\nm2\ty\n' | "$Q" load "$H"
"$Q" del "$H" live
check "and every commit after it" wait_for "^11	9	del	live$" "$F"
same "in order, nothing twice" "$F" "$(printf '7\t6\tput\ttab\\tkey\tnew\\nline
8\t7\tput\tlive\tyes
9\t8\tput\tm1\tx
10\t8\tput\tm2\ty
11\t9\tdel\tlive')"
kill -TERM "$fpid"
if gone "$fpid"; then wait "$fpid"; rc=$?; else rc=timeout; fi
check "SIGTERM ends the follower with exit 0 (got $rc)" test "$rc" = 0
check "and it said nothing on stderr" test ! -s "$T/ferr"

"$Q" changes --json --follow "$H" >"$F" 2>"$T/ferr" &
fpid=$!; bg="$bg $fpid"
check "a --json follower from the start" wait_for '^{"seq":11,' "$F"
kill -INT "$fpid"
if gone "$fpid"; then wait "$fpid"; rc=$?; else rc=timeout; fi
check "SIGINT ends the follower with exit 0 (got $rc)" test "$rc" = 0
check "it had printed every operation" test "$(wc -l <"$F")" = 11

"$Q" changes --since 11 --follow --limit 2 "$H" >"$F" 2>"$T/ferr" &
fpid=$!; bg="$bg $fpid"
"$Q" put "$H" n1 1
"$Q" put "$H" n2 2
"$Q" put "$H" n3 3
if gone "$fpid"; then wait "$fpid"; rc=$?; else rc=timeout; fi
check "--follow --limit N exits by itself after N operations (got $rc)" test "$rc" = 0
same "having printed just those" "$F" "$(printf '12\t10\tput\tn1\t1\n13\t11\tput\tn2\t2')"

# --- compact: usage ------------------------------------------------------------
C=$T/c.quire
"$Q" put "$C" k v
status 2 "compact --keep-last needs a number" "$Q" compact --keep-last x "$C"
check "and says so" grep -q "keep-last needs a number > 0" "$T/err"
status 2 "compact --keep-last 0 is refused" "$Q" compact --keep-last 0 "$C"
status 2 "compact --keep-last rejects a negative number" "$Q" compact --keep-last -3 "$C"
status 2 "compact --keep-last rejects trailing junk" "$Q" compact --keep-last=3x "$C"
status 2 "compact --keep-last needs a value" "$Q" compact "$C" --keep-last
status 2 "compact --keep-since needs a txn id or @TIME" "$Q" compact --keep-since x "$C"
same "and says so" "$T/err" "quire: --keep-since needs a txn id, @UNIXTIME or an ISO 8601 time"
status 2 "compact --keep-since @TIME needs digits after the point" "$Q" compact --keep-since @1. "$C"
status 2 "compact --keep-since rejects an overflowing txn" "$Q" compact --keep-since 99999999999999999999 "$C"
status 2 "compact --keep-since needs a value" "$Q" compact "$C" --keep-since
status 2 "compact --auto=1 is refused (ratios lie below 1)" "$Q" compact --auto=1 "$C"
check "and says so" grep -q "auto needs a ratio" "$T/err"
for r in x -0.1 -1 1.5 1.0 nan inf 0x0.5 " 0.5" 0.5x ""; do
	status 2 "compact --auto='$r' is refused" "$Q" compact "--auto=$r" "$C"
done
cksum <"$C" >"$T/sum0"
status 2 "compact --keep-since past the newest commit is refused" "$Q" compact --keep-since 5 "$C"
check "and says there is no such commit yet" grep -q "^quire: $C: --keep-since 5: there is no commit 5 yet (the newest is 1); nothing was changed$" "$T/err"
status 2 "compact --keep-since @TIME in the future is refused" "$Q" compact --keep-since @4102444800 "$C"
check "and says so" grep -q "^quire: $C: --keep-since: 2100-01-01T00:00:00.000000000Z lies in the future (it is .* now); nothing was changed$" "$T/err"
status 2 "so is one in milliseconds taken for seconds" "$Q" compact --keep-since "@$(($(date +%s) * 1000))" "$C"
status 0 "compact --keep-since the newest commit exits 0" "$Q" compact --keep-since 1 --auto=0.99 "$C"
cksum <"$C" >"$T/sum1"
check "the refusals left the file untouched" cmp -s "$T/sum0" "$T/sum1"
status 2 "an unknown compact option exits 2" "$Q" compact --keep-forever "$C"
status 2 "compact does not take --keep-all (a retention option)" "$Q" compact --keep-all "$C"
check "and points at retention" grep -q "^quire: compact does not take --keep-all (quire retention sets the policy compact obeys)$" "$T/err"
status 2 "nor --keep-for" "$Q" compact --keep-for 1d "$C"
status 2 "compact needs DB" "$Q" compact
check "and says so" grep -q "compact needs DB" "$T/err"
status 2 "compact takes one DB" "$Q" compact "$C" "$T/c2.quire"
status 2 "compact options are refused by other commands" "$Q" put --keep-last 3 "$C" k w
check "with a reason" grep -q "put does not take --keep-last" "$T/err"
status 2 "--quiet too" "$Q" get --quiet "$C" k
status 2 "compact does not take --as-of" "$Q" compact --as-of 1 "$C"
"$Q" get "$C" k >"$T/out"
same "nothing was written" "$T/out" "v"
status 2 "compact of a missing database fails" "$Q" compact "$T/none.quire"
check "and does not create it" test ! -e "$T/none.quire"
cksum <"$C" >"$T/sum1"
status 0 "compact --auto=0.99 of a small fresh database exits 0" "$Q" compact --auto=0.99 "$C"
check "and says compaction is not needed" grep -q "^$C: compaction not needed: reclaimable [0-9.]*% ([0-9.]* [KMG]*i*B); --auto wants more than 99.0% and at least 1 MiB$" "$T/out"
"$Q" compact --auto=0.99 --json "$C" >"$T/out"
check "compact --auto --json says so too" grep -q '^{"path":"[^"]*","compacted":false,"garbage_ratio":0\.[0-9]*,"garbage_bytes":[0-9]*,"auto_ratio":0\.990000,"file_bytes":[0-9]*,"reclaimable_bytes":[0-9]*}$' "$T/out"
check "where garbage_bytes is the reclaimable bytes" sh -c "grep -q '\"garbage_bytes\":\([0-9]*\),.*\"reclaimable_bytes\":\1}' '$T/out'"
status 0 "compact --auto with the default ratio" "$Q" compact --auto "$C"
check "wants what the library's automatic compaction wants" grep -q "compaction not needed: reclaimable .* --auto wants more than 40.0% and at least 1 MiB$" "$T/out"
status 0 "compact --auto=0 of a small file (its superblock counts as reclaimable)" "$Q" compact --auto=0 "$C"
check "is not needed either: it wants 1 MiB reclaimable" grep -q "compaction not needed" "$T/out"
cksum <"$C" >"$T/sum2"
check "and the file is untouched" cmp -s "$T/sum1" "$T/sum2"

# --- compact: a real compaction ---------------------------------------------------
K=$T/k.quire
# txn 1 loads 200 keys, txns 2-5 overwrite them all, 6 deletes one, 7 adds one
keys() { i=0; while [ $i -lt 200 ]; do printf 'key%03d\t%s-%0100d\n' $i "$1" $i; i=$((i + 1)); done; }
for r in r1 r2 r3 r4 r5; do keys $r | "$Q" load "$K"; done
"$Q" del "$K" key007
"$Q" put --meta "last one" "$K" extra "$(printf 'x\001y')"
"$Q" dump "$K" >"$T/kdump1"
"$Q" stat --json "$K" >"$T/kstat1"
jfield() { sed "s/.*\"$1\":\([0-9.]*\).*/\1/" "$2"; }
fb1=$(jfield file_bytes "$T/kstat1")
status 0 "compact exits 0" "$Q" compact "$K"
check "it draws no progress bar when stderr is not a terminal" test ! -s "$T/err"
check "it prints a summary: sizes, reclaimable, time, oldest commit kept" grep -q "^$K: [0-9.]* [KMG]*i*B -> [0-9.]* [KMG]*i*B, reclaimable [0-9.]*% -> [0-9.]*%, [0-9.]* s, oldest commit kept: 7 ([0-9-]*T[0-9:.]*Z)$" "$T/out"
"$Q" dump "$K" >"$T/kdump2"
check "every key and value is unchanged" cmp -s "$T/kdump1" "$T/kdump2"
"$Q" get "$K" key123 >"$T/out"
same "get reads the newest value" "$T/out" "r5-$(printf '%0100d' 123)"
status 1 "the deleted key stays deleted" "$Q" get "$K" key007
"$Q" stat --json "$K" >"$T/kstat2"
fb2=$(jfield file_bytes "$T/kstat2")
check "stat: the file is smaller ($fb1 -> $fb2 bytes)" test "$fb2" -lt "$fb1"
check "and so is the file itself" test "$(wc -c <"$K")" -lt "$fb1"
check "stat: txn and keys as before" grep -q '"txn":7,.*"keys":200,' "$T/kstat2"
check "stat --json: history_txn is the newest commit" grep -q '"history_txn":7,' "$T/kstat2"
check "stat --json: history_seq is past the dropped operations" test "$(jfield history_seq "$T/kstat2")" -gt 1
"$Q" stat "$K" >"$T/out"
check "stat shows the oldest commit kept" grep -q "^oldest txn: *7$" "$T/out"
check "no <db>.compact is left behind" test ! -e "$K.compact"
status 0 "check passes the compacted database" "$Q" check "$K"
status 2 "get --as-of a compacted commit exits 2" "$Q" get --as-of 3 "$K" key123
check "and says it was compacted away" grep -q "$K: commit 3 was compacted away" "$T/err"
status 2 "dump --as-of 6 too" "$Q" dump --as-of 6 "$K"
check "history compacted away" grep -q "compacted away" "$T/err"
"$Q" get --as-of 7 "$K" extra >"$T/out"
printf 'x\001y\n' >"$T/want"
check "the newest commit reads with --as-of" cmp -s "$T/out" "$T/want"
status 0 "log of a key set before the kept commit exits 0" "$Q" log "$K" key123
"$Q" log "$K" key123 >"$T/out" 2>"$T/err"
check "and prints no version" test ! -s "$T/out"
check "and says they were compacted away" grep -q "older versions of the key were compacted away" "$T/err"
"$Q" log "$K" extra | cut -f2 >"$T/out"
same "log of a key set in the kept commit shows that version" "$T/out" "7"
"$Q" history "$K" | cut -f1,6 >"$T/out"
same "history keeps the newest commit, with its metadata" "$T/out" "$(printf '7\tlast one')"
status 2 "changes --since 0 exits 2" "$Q" changes --since 0 "$K"
check "compacted away" grep -q "compacted away" "$T/err"

# more commits, then keep the last 3 of them
for v in 8 9 10 11 12; do "$Q" put "$K" extra "v$v"; done
status 0 "compact --keep-last 3 exits 0" "$Q" compact --keep-last 3 "$K"
check "the oldest commit kept is the 3rd last" grep -q "oldest commit kept: 10 " "$T/out"
for v in 10 11 12; do
	"$Q" get --as-of $v "$K" extra >"$T/out"
	same "--as-of $v reads after --keep-last 3" "$T/out" "v$v"
done
status 2 "--as-of 9 was compacted away" "$Q" get --as-of 9 "$K" extra
check "and says so" grep -q "commit 9 was compacted away" "$T/err"
"$Q" log "$K" extra 2>"$T/err" | cut -f2,5 >"$T/out"
same "log shows the versions of the kept commits" "$T/out" "$(printf '12\tv12\n11\tv11\n10\tv10')"
check "and says older ones were compacted away" grep -q "older versions of the key were compacted away" "$T/err"
"$Q" history "$K" | cut -f1 | paste -sd ' ' - >"$T/out"
same "history lists the kept commits" "$T/out" "12 11 10"
"$Q" dump "$K" >"$T/kdump3"
sed 's/^extra	.*/extra	v12/' "$T/kdump1" >"$T/want"
check "every key and value is as committed" cmp -s "$T/want" "$T/kdump3"

# --keep-since by txn and by time, combined with --keep-last, and --json
for v in 13 14 15 16; do "$Q" put "$K" extra "v$v"; done
ns14=$("$Q" history --json "$K" | grep '^{"txn":14,' | sed 's/.*"time_ns":\([0-9]*\).*/\1/')
status 0 "compact --keep-since @TIME exits 0" "$Q" compact --keep-since "$(at_ns "$ns14")" "$K"
"$Q" history "$K" | cut -f1 | paste -sd ' ' - >"$T/out"
same "keeps the commits made from then on" "$T/out" "16 15 14"
status 0 "compact --keep-since 15 --keep-last 1 --json exits 0" "$Q" compact --keep-since 15 --keep-last 1 --json "$K"
check "compact --json: one object with the figures" grep -q '^{"path":"[^"]*","compacted":true,"seconds":[0-9.]*,"file_bytes_before":[0-9]*,"file_bytes_after":[0-9]*,"garbage_ratio_before":[0-9.]*,"garbage_ratio_after":[0-9.]*,"history_txn":15,"history_seq":[0-9]*,"history_time":"[0-9-]*T[0-9:.]*Z","history_time_ns":[0-9]*,"reclaimable_bytes_before":[0-9]*,"reclaimable_bytes_after":[0-9]*}$' "$T/out"
"$Q" get --as-of 15 "$K" extra >"$T/out"
same "the most history asked for is kept" "$T/out" "v15"
status 2 "and no more" "$Q" get --as-of 14 "$K" extra
status 0 "compact --quiet exits 0" "$Q" compact --quiet "$K"
check "and prints the summary" grep -q "oldest commit kept: 16 " "$T/out"
"$Q" put "$K" after compact
status 0 "writing goes on after compaction" "$Q" get "$K" after
same "with the value put" "$T/out" "compact"

# the file behind a symbolic link is compacted, with its mode; a file with
# two hard links is refused
mkdir "$T/real"
L=$T/real/l.quire
for r in r1 r2 r3; do keys $r | "$Q" load "$L"; done
ln -s real/l.quire "$T/link.quire"
chmod 640 "$L"
lb1=$(wc -c <"$L")
status 0 "compact through a symbolic link exits 0" "$Q" compact "$T/link.quire"
check "the link stays a link" test -L "$T/link.quire"
check "to the same name" test "$(readlink "$T/link.quire")" = real/l.quire
check "the file it names is compacted ($lb1 -> $(wc -c <"$L") bytes)" test "$(wc -c <"$L")" -lt "$lb1"
check "no copy is left beside either name" sh -c "test ! -e '$L.compact' && test ! -e '$T/link.quire.compact'"
check "the mode is kept" test "$(stat -c %a "$L")" = 640
"$Q" put "$T/link.quire" via link
"$Q" get "$L" via >"$T/out"
same "a write through the link is read through the file's name" "$T/out" "link"
"$Q" put "$L" via name
"$Q" get "$T/link.quire" via >"$T/out"
same "and the other way round" "$T/out" "name"
ln "$L" "$T/hard.quire"
cksum <"$L" >"$T/sum1"
status 2 "compact of a file with two hard links exits 2" "$Q" compact "$L"
check "and says why" grep -q "has 2 hard links; compacting would split them" "$T/err"
cksum <"$L" >"$T/sum2"
check "and leaves the file untouched" cmp -s "$T/sum1" "$T/sum2"
rm "$T/hard.quire"
status 0 "with the other link gone it compacts" "$Q" compact "$L"

# --auto compacts once enough is reclaimable: two loads of 140,000 keys
# each reach checkpoint_ops, so the second rewrites the whole tree
A=$T/auto.quire
for r in a b; do
	awk -v r=$r 'BEGIN { for (i = 0; i < 140000; i++) printf "k%06d\t%s%d\n", i, r, i }' |
		"$Q" load "$A"
done
status 0 "compact --auto with over 1 MiB reclaimable exits 0" "$Q" compact --auto "$A"
# (the second load may have compacted by itself already, in the
# background: auto_compact_ratio is on by default)
check "and compacts" grep -Eq "^$A: .*oldest commit kept: 2 |compaction not needed" "$T/out"
"$Q" get "$A" k123456 >"$T/out"
same "the value is the last one" "$T/out" "b123456"
# the operations of the newest commit stay (the changes feed has them)
"$Q" put "$A" k000000 c
status 0 "after one more commit compact --auto exits 0" "$Q" compact --auto=0.5 "$A"
# (or the put's quire_close compacted already: it does when it is due)
check "and reclaims the oplog of the older commit" grep -Eq "oldest commit kept: 3 |compaction not needed" "$T/out"
"$Q" stat "$A" >"$T/out"
check "the oldest commit kept is the newest" grep -q "oldest txn: *3" "$T/out"
status 0 "a second compact --auto exits 0" "$Q" compact --auto "$A"
check "and finds nothing to do" grep -q "compaction not needed" "$T/out"
"$Q" dump "$A" | sed -n '1p;$p' >"$T/out"
same "every key is there" "$T/out" "$(printf 'k000000\tc\nk139999\tb139999')"

# the progress bar: only on a terminal (script(1) of util-linux gives one)
if script -qc true /dev/null >/dev/null 2>&1; then
	script -qc "'$Q' compact '$A'" /dev/null >"$T/out" 2>&1
	check "on a terminal compact draws a progress bar" grep -q "compacting 100% \[#*\] [0-9.]* [KMG]*i*B / " "$T/out"
	check "and then the summary" grep -q "^$A: .*oldest commit kept: 3 " "$T/out"
	script -qc "'$Q' compact --quiet '$A'" /dev/null >"$T/out" 2>&1
	check "--quiet draws none" sh -c "! grep -q compacting '$T/out' && grep -q '^$A: ' '$T/out'"
else
	n=$((n + 1)); echo "ok $n # SKIP no script(1) for a terminal"
fi

# --- compact obeys the stored retention policy -------------------------------
# (small files: far below the 1 MiB automatic compaction waits for)
Y=$T/y.quire
"$Q" put "$Y" k v0                                  # txn 1
"$Q" retention "$Y" --keep-last 3 >/dev/null        # txn 2
for i in 1 2 3 4 5 6; do "$Q" put "$Y" k "v$i"; done   # txns 3-8: v1-v6
"$Q" stat --json "$Y" >"$T/ystat1"
status 0 "compact without --keep-* exits 0" "$Q" compact "$Y"
check "it keeps what the policy keeps: the newest 3 commits" grep -q "^$Y: .*oldest commit kept: 6 " "$T/out"
for i in 4 5 6; do
	"$Q" get --as-of $((i + 2)) "$Y" k >"$T/out"
	same "get --as-of $((i + 2)) (kept) reads v$i" "$T/out" "v$i"
done
status 2 "get --as-of 5 (older) exits 2" "$Q" get --as-of 5 "$Y" k
same "saying it was compacted away, once" "$T/err" "quire: $Y: commit 5 was compacted away"
"$Q" history "$Y" | cut -f1 | paste -sd ' ' - >"$T/out"
same "history lists the kept commits" "$T/out" "8 7 6"
"$Q" retention "$Y" >"$T/out"
same "the policy survives the compaction" "$T/out" "keep: newest 3 commits"
"$Q" stat --json "$Y" >"$T/ystat2"
check "stat counts the kept history" test "$(jfield history_bytes "$T/ystat2")" -gt 0
check "and reclaimable bytes fell ($(jfield reclaimable_bytes "$T/ystat1") -> $(jfield reclaimable_bytes "$T/ystat2"))" test "$(jfield reclaimable_bytes "$T/ystat2")" -lt "$(jfield reclaimable_bytes "$T/ystat1")"

# a time window: every commit of the last hour stays
"$Q" retention "$Y" --keep-last 1 --keep-for 1h >/dev/null     # txn 9
"$Q" put "$Y" k v7                                             # txn 10
status 0 "compact under --keep-last 1 --keep-for 1h exits 0" "$Q" compact "$Y"
check "keeps every commit of the last hour" grep -q "oldest commit kept: 6 " "$T/out"
"$Q" get --as-of 6 "$Y" k >"$T/out"
same "get --as-of 6 still reads" "$T/out" "v4"

# --keep-* options take the place of the policy for one compaction
"$Q" retention "$Y" --keep-all >/dev/null                      # txn 11
"$Q" put "$Y" k v8                                             # txn 12
status 0 "compact under --keep-all exits 0" "$Q" compact "$Y"
check "keeps every commit" grep -q "oldest commit kept: 6 " "$T/out"
status 0 "compact --keep-last 2 under --keep-all exits 0" "$Q" compact --keep-last 2 "$Y"
check "keeps the last 2 commits only" grep -q "oldest commit kept: 11 " "$T/out"
"$Q" retention "$Y" >"$T/out"
same "and leaves the policy as it was" "$T/out" "keep: every commit"
status 2 "get --as-of 10 exits 2 now" "$Q" get --as-of 10 "$Y" k
check "compacted away" grep -q "commit 10 was compacted away" "$T/err"
"$Q" dump "$Y" >"$T/out"
same "the data is the newest" "$T/out" "$(printf 'k\tv8')"

# a file written by quire 0.1 (3 commits: put a 1, put a 2, put b 3): no
# policy stored (every commit kept), raw bytes unknown until compacted
O=$T/old.quire
if printf '%s\n' \
'H4sIAAAAAAACAwsM9QxydXFiYGQAAgEGhsXfWjk6Nz/VFGb/uqynTOSFh/Lhhl9b30owDEPg4PD5' \
'KsMoGAUjGEwSgdDMOPgrLQSapkXVF7Ng0as7MW/5aAiOglEwdAGPMIRmwsGH5X9mLHqdXz+aOBqC' \
'o2AUjIJRMApGwdADPb25vqC+vwMjhB8IGg/wcAnCNR4AEkMGGOMDaPKMuPregtRxPyOpGgSoG37X' \
'DytXgfpGbljcwogkBqMfG9k3gsLLASbOmMjAZHhwxjMTUmKhTRC7qTDfwUJ3/ZX6bcitOZh6Nyh9' \
'TIg2sQCz3w0tFNxoFAtK01ffQo4FdPth/ofR3kseoscCI5PRLu3aa6TEAnpbGWYqLHZgoauy8pYV' \
'cp8aFho9UNpHhDaxALPfDepGJjR7qR0Lhnq3pyLHArL9jEj+h9HvtbY1ocZCEgOTsdVl5d2kxAL6' \
'iAXMVFjswEI30rJmGohmQUsLl2C0KG1iAWa/G9SNzGj2UjsWAPXg5nHSFQAA' |
	base64 -d 2>/dev/null | gzip -dc >"$O" 2>/dev/null && [ -s "$O" ]; then
	"$Q" stat "$O" >"$T/out"
	check "a quire 0.1 file keeps every commit" grep -q "^keep: *every commit$" "$T/out"
	check "its raw bytes are unknown" grep -q "^raw bytes: *unknown " "$T/out"
	"$Q" stat --json "$O" >"$T/out"
	check "stat --json: raw_bytes null, keep_all true" grep -q '"keep_all":true,"keep_last":null,"keep_for_ns":0,"raw_bytes":null,' "$T/out"
	status 0 "compact of a quire 0.1 file exits 0" "$Q" compact "$O"
	"$Q" get --as-of 1 "$O" a >"$T/out"
	same "and keeps every commit" "$T/out" "1"
	"$Q" stat "$O" >"$T/out"
	check "then the raw bytes are known" grep -q "^raw bytes: *4 " "$T/out"
	check "and the policy is still every commit" grep -q "^keep: *every commit$" "$T/out"
else
	n=$((n + 1)); echo "ok $n # SKIP no base64 or gzip for the quire 0.1 file"
fi

# --- issue 15: a CLI that handles real data ----------------------------------
# 1. binary values from stdin, exact bytes out, keys with any bytes
X=$T/x.quire
awk 'BEGIN { for (i = 0; i < 14000; i++) printf "%09d\n", i }' >"$T/bigval"
status 0 "put KEY - reads a 140 KB value from stdin" sh -c "'$Q' put '$X' big - <'$T/bigval'"
status 0 "get --raw exits 0" "$Q" get --raw "$X" big
check "get --raw writes exactly the value's bytes" cmp -s "$T/out" "$T/bigval"
printf 'a\000b\r\nc\377' >"$T/binval"
"$Q" put "$X" bin - <"$T/binval"
"$Q" get --raw "$X" bin >"$T/out"
check "a value with NUL, CR, LF and a stray byte survives" cmp -s "$T/out" "$T/binval"
status 0 "put - of an empty stdin" sh -c "'$Q' put '$X' empty - </dev/null"
"$Q" get --raw "$X" empty >"$T/out"
check "puts an empty value" test -f "$T/out" -a ! -s "$T/out"
status 0 "put --escaped: a key with a NUL byte" "$Q" put --escaped "$X" 'k\x00ey' 'v\tal'
"$Q" dump --prefix k "$X" >"$T/out"
same "dump prints it as --escaped takes it" "$T/out" 'k\x00ey	v\tal'
"$Q" get --escaped --raw "$X" 'k\x00ey' >"$T/out"
printf 'v\tal' >"$T/want"
check "get --escaped finds it" cmp -s "$T/out" "$T/want"
status 1 "without --escaped the key is taken literally" "$Q" get "$X" 'k\x00ey'
"$Q" log --escaped "$X" 'k\x00ey' | cut -f4,5 >"$T/out"
same "log --escaped" "$T/out" "$(printf 'put\tv\\tal')"
status 0 "del --escaped" "$Q" del --escaped "$X" 'k\x00ey'
status 1 "deletes it" "$Q" get --escaped "$X" 'k\x00ey'
status 2 "--escaped refuses a bad escape" "$Q" get --escaped "$X" 'a\q'
same "saying where" "$T/err" 'quire: KEY: bad escape at byte 2 of "a\q"'
"$Q" put --escaped "$X" dash '\x2d'
"$Q" get "$X" dash >"$T/out"
same "a literal - value is put as \\x2d" "$T/out" "-"
"$Q" scan --escaped --start 'a\x00' --end 'bio' "$X" | cut -f1 >"$T/out"
same "scan --escaped --start --end" "$T/out" "big
bin"

# 2. --json on get, scan and dump, and back through load --json
"$Q" get --json "$X" bin >"$T/out"
same "get --json: key and value, bytes not UTF-8 as \\udcHH" "$T/out" '{"key":"bin","value":"a\u0000b\r\nc\udcff"}'
"$Q" scan --json --prefix da "$X" >"$T/out"
same "scan --json" "$T/out" '{"key":"dash","value":"-"}'
"$Q" dump --json "$X" >"$T/out"
check "dump --json: one object per key" test "$(grep -c '^{"key":.*,"value":.*}$' "$T/out")" = 4
"$Q" load --json "$T/xj.quire" <"$T/out"
"$Q" dump "$X" >"$T/dump1"; "$Q" dump "$T/xj.quire" >"$T/dump2"
check "load --json reads dump --json back byte for byte" cmp -s "$T/dump1" "$T/dump2"
if command -v python3 >/dev/null 2>&1; then
	"$Q" get --json "$X" bin >"$T/out"
	check "Python reads the exact bytes back (surrogateescape)" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["value"].encode("utf-8", "surrogateescape") == open(sys.argv[2], "rb").read()
' "$T/out" "$T/binval"
else
	n=$((n + 1)); echo "ok $n # SKIP no python3 to parse JSON"
fi
status 2 "load --json refuses a changes line" sh -c "echo '{\"seq\":1,\"txn\":1,\"op\":\"put\",\"key\":\"a\",\"value\":\"1\"}' | '$Q' load --json '$T/xj.quire'"
same "naming the line and --changes" "$T/err" "quire: stdin line 1: a member other than keyspace, key and value (a changes feed loads with --changes)"

# 3. --as-of takes ISO 8601 times, as history and log print them
iso2=$("$Q" history --json "$H" | grep '^{"txn":2,' | sed 's/.*"time":"\([^"]*\)".*/\1/')
"$Q" dump --as-of "$iso2" "$H" >"$T/out"
same "--as-of the ISO time history prints reads that commit" "$T/out" "$(printf 'a\t1\nb\t2')"
sec2=${iso2%.*}Z
"$Q" dump --as-of "$sec2" "$H" >"$T/out"
"$Q" dump --as-of "@$(date -u -d "$sec2" +%s 2>/dev/null || echo 0)" "$H" >"$T/out2"
check "without a fraction it is that second (as @UNIXTIME)" cmp -s "$T/out" "$T/out2"
for t in 2000-01-01T00:00:00Z 2000-01-01T01:30:00+01:30 1999-12-31T19:00:00-0500 1999-12-31T23:00:00.000-01 2000-01-01t00:00:00z; do
	status 2 "--as-of $t (before the first commit) exits 2" "$Q" get --as-of "$t" "$H" b
	same "and names the time in UTC" "$T/err" "quire: $H: no commit was made at or before 2000-01-01T00:00:00.000000000Z"
done
status 2 "fractions are kept" "$Q" get --as-of 2000-01-01T00:00:00.25Z "$H" b
check "to the nanosecond" grep -q "before 2000-01-01T00:00:00.250000000Z$" "$T/err"
"$Q" get --as-of 2500-12-31T23:59:59.999999999+14:00 "$H" b >"$T/out"
same "--as-of an ISO time in the future reads the newest" "$T/out" "$(printf 'x\001y')"
for t in 2026-02-29T00:00:00Z 2026-13-01T00:00:00Z 2026-12-03T24:00:00Z 2026-12-03T14:00:00 2026-12-03 "2026-12-03 14:00:00Z" 2026-12-03T14:00:00+5 1969-12-31T23:59:59Z 2026-12-03T14:00:00.Z; do
	status 2 "--as-of $t is refused" "$Q" get --as-of "$t" "$H" b
done
same "saying what a time is" "$T/err" "quire: --as-of needs a txn id, @UNIXTIME or an ISO 8601 time"
"$Q" diff "$H" "$iso2" 5 >"$T/out2"
"$Q" diff "$H" 2 5 >"$T/out"
check "diff takes ISO times" cmp -s "$T/out" "$T/out2"

# 4. a changes feed rebuilds a database, deletes included
CA=$T/ca.quire CB=$T/cb.quire
"$Q" put "$CA" a 1
"$Q" put "$CA" b 2
"$Q" put --escaped "$CA" 'n\x00l' '\xff\x00'
"$Q" del "$CA" a
"$Q" put "$CA" b 3
"$Q" put "$CA" a again
"$Q" del "$CA" b
"$Q" changes --json "$CA" >"$T/feed"
status 0 "load --changes replays changes --json" sh -c "'$Q' load -v --changes '$CB' <'$T/feed'"
same "with its deletes" "$T/err" "quire: $CB: 5 puts and 2 deletes in 1 commit; 2 keys in the database"
"$Q" dump "$CA" >"$T/dump1"; "$Q" dump "$CB" >"$T/dump2"
check "dump of both is the same" cmp -s "$T/dump1" "$T/dump2"
status 1 "the deleted key is gone" "$Q" get "$CB" b
status 2 "a changes line without op fails" sh -c "echo '{\"key\":\"a\",\"value\":\"1\"}' | '$Q' load --changes '$CB'"
same "saying so" "$T/err" 'quire: stdin line 1: no op "put", "del", "del_range", "keyspace", "rename_keyspace" or "drop_keyspace"'
status 2 "a del with a value fails" sh -c "echo '{\"op\":\"del\",\"key\":\"a\",\"value\":\"1\"}' | '$Q' load --changes '$CB'"
status 2 "malformed JSON fails" sh -c "echo '{\"op\":\"put\",\"key\":\"a\",\"value\":\"1\"' | '$Q' load --changes '$CB'"
"$Q" dump "$CB" >"$T/dump2"
check "and the failed loads changed nothing" cmp -s "$T/dump1" "$T/dump2"

# 5. output that cannot be written is an error (exit 2, said once)
if [ -w /dev/full ]; then
	for c in "get $X big" "get --raw $X big" "get --json $X big" "stat $X" "stat --json $X" "check $X" "dump $X" "dump --json $X" "scan $X" "log $H b" "changes $H" "changes --json $H" "history $H" "diff $H 0 6" "retention $X" "keyspaces $X" "keyspaces --json $X" "--help"; do
		status 2 "quire $c >/dev/full exits 2" sh -c "'$Q' $c >/dev/full"
		same "and says why, once" "$T/err" "quire: writing the output: No space left on device"
	done
else
	n=$((n + 1)); echo "ok $n # SKIP no /dev/full"
fi

# 6. options a command does not take are usage errors, with its usage line
"$Q" dump --prefix b "$S" >"$T/out"
same "dump --prefix" "$T/out" "$(printf 'b\t2\nba\t3\nbb\t4\nbc\t5')"
"$Q" dump --reverse --limit 1 "$S" >"$T/out"
same "dump --reverse --limit 1" "$T/out" "$(printf 'd\t7')"
status 2 "put --limit 3 is refused" "$Q" put --limit 3 "$X" k v
same "with the reason and put's usage line, not the whole help" "$T/err" "quire: put does not take --limit
usage: quire put DB KEY VALUE [--keyspace NAME] [--escaped] [--meta TEXT] [--no-wait]
see quire --help"
status 1 "and nothing was put" "$Q" get "$X" k
for c in "check --json" "salvage --limit 1" "history --as-of 1" "stat --limit 1" "log --reverse" "diff --limit 1" "compact --no-wait" "changes --reverse" "load --as-of 1" "del --json" "get --reverse" "put --raw" "retention --quiet" "scan --batch 2" "history --escaped" "compact --escaped" "get --no-wait" "dump --since 1" "check --verbose" "history --follow" "get --meta x" "history --keyspace x" "keyspaces --limit 1" "scan --all-keyspaces" "drop-keyspace --as-of 1"; do
	set -- $c
	status 2 "$1 does not take $2" "$Q" $c "$S" a b
	check "in three lines: the reason, $1's usage, see --help" sh -c "test \$(wc -l <'$T/err') = 3 && head -1 '$T/err' | grep -q '^quire: $1 does not take $2$' && sed -n 2p '$T/err' | grep -q '^usage: quire $1 ' && tail -1 '$T/err' | grep -qx 'see quire --help'"
done
status 2 "a missing argument" "$Q" put "$X" k
same "says what the command needs, with its usage line" "$T/err" "quire: put needs DB KEY VALUE
usage: quire put DB KEY VALUE [--keyspace NAME] [--escaped] [--meta TEXT] [--no-wait]
see quire --help"
status 2 "an unknown option" "$Q" get --frob "$X" k
same "names it, with the command's usage line" "$T/err" "quire: unknown option --frob
usage: quire get DB KEY [--keyspace NAME] [--as-of WHEN] [--json] [--raw] [--escaped]
see quire --help"
status 2 "an unknown command" "$Q" frob "$X"
same "names it and points at --help" "$T/err" "quire: unknown command frob
see quire --help"
status 2 "a flag given a value" "$Q" get --json=1 "$X" k
same "is refused" "$T/err" "quire: --json takes no value"

# 7. --limit 0 prints nothing (at most 0 lines)
for c in scan dump history changes; do
	status 0 "$c --limit 0 exits 0" "$Q" $c --limit 0 "$H"
	check "and prints nothing" test ! -s "$T/out"
done
status 0 "log --limit 0 of a key that has versions exits 0" "$Q" log --limit 0 "$H" b
check "and prints nothing" test ! -s "$T/out"
status 1 "log --limit 0 of a key never written exits 1" "$Q" log --limit 0 "$H" nope
status 0 "changes --follow --limit 0 ends at once" "$Q" changes --follow --limit 0 "$H"

# 8. a failed load leaves no new file and an existing one unchanged; CRLF
status 2 "a failed load into a new file exits 2" sh -c "printf 'a\\t1\\nb\\t2\\nbroken\\n' | '$Q' load '$T/new.quire'"
check "and leaves no file" test ! -e "$T/new.quire"
status 2 "also with --batch" sh -c "printf 'a\\t1\\nb\\t2\\nbroken\\n' | '$Q' load --batch 1 '$T/new.quire'"
check "no file either" test ! -e "$T/new.quire"
cksum <"$S" >"$T/sum1"
status 2 "a failed load into an existing file exits 2" sh -c "printf 'a\\t9\\nz\\t9\\nbroken\\n' | '$Q' load '$S'"
cksum <"$S" >"$T/sum2"
check "and leaves the file byte for byte as it was (one transaction)" cmp -s "$T/sum1" "$T/sum2"
printf 'k1\tv1\r\nk2\tv\\x0d2\r\nk3\tv3\r' | "$Q" load "$T/crlf.quire"
"$Q" dump "$T/crlf.quire" >"$T/out"
same "load strips the CR of CRLF line ends" "$T/out" "$(printf 'k1\tv1\nk2\tv\\x0d2\nk3\tv3')"
"$Q" get --raw "$T/crlf.quire" k2 >"$T/out"
printf 'v\r2' >"$T/want"
check "an escaped CR is a CR" cmp -s "$T/out" "$T/want"
status 2 "a raw CR inside a field is refused" sh -c "printf 'a\\tx\\ry\\n' | '$Q' load '$T/cr.quire'"
same "as an unescaped byte" "$T/err" "quire: stdin line 1: bad escape, extra tab or raw carriage return"
printf 'a\t1\na\t2\nb\t3\n' | "$Q" load -v "$T/v.quire" 2>"$T/err"
same "load -v counts the keys, not the lines" "$T/err" "quire: $T/v.quire: 3 puts and 0 deletes in 1 commit; 2 keys in the database"

# 9. an empty file is no database, for every command
E=$T/empty.quire
: >"$E"
for c in "get $E k" "put $E k v" "del $E k" "scan $E" "dump $E" "stat $E" "check $E" "history $E" "changes $E" "log $E k" "diff $E 0 0" "compact $E" "retention $E" "retention --keep-all $E" "salvage $E $T/salv.quire" "keyspaces $E" "drop-keyspace $E ks" "rename-keyspace $E ks ks2" "put --keyspace ks $E k v"; do
	status 2 "quire $c of a 0-byte file exits 2" "$Q" $c
	same "saying it is empty" "$T/err" "quire: $E: empty file, not a quire database"
done
status 2 "load too" sh -c "printf 'a\\t1\\n' | '$Q' load '$E'"
same "with the same message" "$T/err" "quire: $E: empty file, not a quire database"
check "and the file is still empty, and kept" test -f "$E" -a ! -s "$E"

# 10. messages name the user's paths and say things once
status 2 "put into a missing directory" "$Q" put "$T/nodir/x.quire" k v
same "names the path given (not an internal file)" "$T/err" "quire: $T/nodir/x.quire: creating: No such file or directory"
status 2 "compact DB --auto 0.5 exits 2" "$Q" compact "$C" --auto 0.5
check "and says the ratio goes after =" grep -qx "quire: too many arguments for compact DB: 0.5 (--auto takes its ratio after '=', as in --auto=0.5)" "$T/err"
"$Q" check "$B" >"$T/out" 2>/dev/null
check "check names each problem's offset once" sh -c "grep -q 'offset [0-9]' '$T/out' && ! grep -q '^offset \([0-9]*\): .*offset \1\(\$\|[^0-9]\)' '$T/out'"

# 12. progress lines: on a terminal only, in place, cleared at the end
status 0 "check: nothing on stderr when it is not a terminal" "$Q" check "$S"
check "(none)" test ! -s "$T/err"
seq 1 2000 | sed 's/.*/p&\tv&/' >"$T/ptsv"
status 0 "load: nothing on stderr when it is not a terminal" sh -c "'$Q' load '$T/p1.quire' <'$T/ptsv'"
check "(none)" test ! -s "$T/err"
if script -qc true /dev/null >/dev/null 2>&1; then
	printf '\r\033[K' >"$T/clear"
	script -qc "'$Q' load '$T/p2.quire' <'$T/ptsv'" /dev/null >"$T/out" 2>&1
	check "load on a terminal draws a progress line" grep -q "loading $T/p2.quire: [0-9]* records, [0-9.]* [KMG]*i*B of 21.3 KiB" "$T/out"
	check "and clears it at the end" grep -qF "$(cat "$T/clear")" "$T/out"
	"$Q" dump "$T/p2.quire" >"$T/dump2"
	check "and loads everything" test "$(wc -l <"$T/dump2")" = 2000
	script -qc "'$Q' check '$S'" /dev/null >"$T/out" 2>&1
	check "check on a terminal shows what it does" grep -q "checking $S \.\.\." "$T/out"
	check "clears the line, then the summary" grep -qF "$(cat "$T/clear")$S: no problems" "$T/out"
	script -qc "'$Q' salvage '$S' '$T/ps.quire'" /dev/null >"$T/out" 2>&1
	check "salvage on a terminal too" grep -qF "$(cat "$T/clear")$S: copied 7 keys" "$T/out"
	script -qc "'$Q' backup '$S' '$T/pb.quire'" /dev/null >"$T/out" 2>&1
	check "backup on a terminal too" grep -qF "backing up $S ..." "$T/out"
	check "(then the summary)" grep -qF "$(cat "$T/clear")$S: copied to $T/pb.quire" "$T/out"
else
	n=$((n + 1)); echo "ok $n # SKIP no script(1) for a terminal"
fi

# --- backup --------------------------------------------------------------------
B=$T/bk.quire
C=$T/bk-copy.quire
"$Q" put "$B" a 1 >/dev/null && "$Q" put "$B" b 2 >/dev/null && "$Q" del "$B" a >/dev/null
chmod 0640 "$B"
status 0 "backup writes a copy" "$Q" backup "$B" "$C"
check "it says which commit" grep -q "copied to $C at commit 3" "$T/out"
"$Q" dump "$B" >"$T/d1"; "$Q" dump "$C" >"$T/d2"
check "the copy holds the same keys and values" cmp -s "$T/d1" "$T/d2"
"$Q" history "$B" >"$T/h1"; "$Q" history "$C" >"$T/h2"
check "and the same history" cmp -s "$T/h1" "$T/h2"
check "with the database file's mode" test "$(stat -c %a "$C")" = 640
check "no .partial file is left" test ! -e "$C.partial"
status 2 "backup refuses an existing copy without --incremental" "$Q" backup "$B" "$C"
check "(saying it exists)" grep -q "$C: exists" "$T/err"
"$Q" put "$B" c 3 >/dev/null
status 0 "backup --incremental appends what is new" "$Q" backup "$B" "$C" --incremental
check "(from commit 3 to 4)" grep -q "brought from commit 3 to 4" "$T/out"
"$Q" dump "$B" >"$T/d1"; "$Q" dump "$C" >"$T/d2"
check "the copy is the database again" cmp -s "$T/d1" "$T/d2"
status 0 "backup --incremental of an up-to-date copy" "$Q" backup "$B" "$C" --incremental
check "(says so)" grep -q "is up to date at commit 4" "$T/out"
"$Q" put "$C" own x >/dev/null
"$Q" put "$B" d 4 >/dev/null
"$Q" dump "$C" >"$T/d2"
status 2 "a copy written to is not extended" "$Q" backup "$B" "$C" --incremental
check "(it has diverged)" grep -q "diverged" "$T/err"
"$Q" dump "$C" >"$T/d3"
check "and is left as it was" cmp -s "$T/d2" "$T/d3"
status 0 "--full-if-needed replaces it" "$Q" backup "$B" "$C" --full-if-needed
"$Q" dump "$B" >"$T/d1"; "$Q" dump "$C" >"$T/d2"
check "with a copy of the database" cmp -s "$T/d1" "$T/d2"
"$Q" compact "$B" >/dev/null
"$Q" put "$B" e 5 >/dev/null
status 2 "after a compaction the copy is refused" "$Q" backup "$B" "$C" --incremental
check "(another file id)" grep -q "not a copy of" "$T/err"
status 0 "and replaced with --full-if-needed" "$Q" backup "$B" "$C" --incremental --full-if-needed
"$Q" dump "$B" >"$T/d1"; "$Q" dump "$C" >"$T/d2"
check "(the same keys)" cmp -s "$T/d1" "$T/d2"
status 2 "backup onto the database itself" "$Q" backup "$B" "$B" --incremental
status 2 "backup of a missing database" "$Q" backup "$T/none.quire" "$T/none-copy.quire"
check "(no copy made)" test ! -e "$T/none-copy.quire"
status 2 "backup takes no --limit" "$Q" backup "$B" "$T/x.quire" --limit 1
status 2 "backup needs two files" "$Q" backup "$B"

# --- backup --compact ------------------------------------------------------------
KB=$T/kb.quire
K=$T/kb-copy.quire
for i in 1 2 3 4 5 6; do "$Q" put "$KB" "k$i" "v$i" >/dev/null; done
"$Q" retention "$KB" --keep-all >/dev/null
"$Q" put "$KB" k7 v7 >/dev/null && "$Q" del "$KB" k1 >/dev/null
chmod 0640 "$KB"
cp "$KB" "$T/kb-before"
cp "$KB" "$T/kb-c3.quire"
"$Q" compact "$T/kb-c3.quire" --keep-last 3 >/dev/null
status 0 "backup --compact --keep-last 3 writes a compacted copy" "$Q" backup "$KB" "$K" --compact --keep-last 3
check "it says which commit" grep -q "^$KB: compacted into $K at commit 9 ([0-9]* bytes)$" "$T/out"
"$Q" dump "$KB" >"$T/d1"; "$Q" dump "$K" >"$T/d2"
check "the copy holds the same keys and values" cmp -s "$T/d1" "$T/d2"
"$Q" history "$K" | cut -f1-4,6 >"$T/h2"
check "and the last 3 commits" test "$(wc -l <"$T/h2")" = 3
"$Q" history "$T/kb-c3.quire" | cut -f1-4,6 >"$T/h1"
check "as compact --keep-last 3 keeps them" cmp -s "$T/h1" "$T/h2"
status 0 "--as-of a kept commit reads it" "$Q" get --as-of 7 "$K" k1
status 2 "--as-of an older one is compacted away" "$Q" get --as-of 6 "$K" k1
check "(says so)" grep -q "compacted away" "$T/err"
check "with the database file's mode" test "$(stat -c %a "$K")" = 640
check "no .partial file is left" test ! -e "$K.partial"
check "the database is untouched" cmp -s "$KB" "$T/kb-before"
status 0 "without --keep-*: what the retention policy keeps" "$Q" backup "$KB" "$T/kb-all.quire" --compact
cp "$KB" "$T/kb-call.quire"
"$Q" compact "$T/kb-call.quire" >/dev/null
"$Q" history "$T/kb-call.quire" | cut -f1-4,6 >"$T/h1"
"$Q" history "$T/kb-all.quire" | cut -f1-4,6 >"$T/h2"
check "(every commit, as compact keeps)" cmp -s "$T/h1" "$T/h2"
status 0 "--keep-since keeps from a commit on" "$Q" backup "$KB" "$T/kb-since.quire" --compact --keep-since 5
"$Q" history --reverse --limit 1 "$T/kb-since.quire" | cut -f1 >"$T/out"
same "(the oldest kept is 5)" "$T/out" "5"
status 2 "backup --compact refuses an existing copy" "$Q" backup "$KB" "$K" --compact
check "(saying it exists)" grep -q "$K: exists$" "$T/err"
status 2 "--compact with --incremental is a usage error" "$Q" backup "$KB" "$T/kb-x.quire" --compact --incremental
check "(saying why)" grep -q "^quire: --compact writes a new copy: it does not combine with --incremental" "$T/err"
status 2 "--compact with --full-if-needed too" "$Q" backup "$KB" "$T/kb-x.quire" --compact --full-if-needed
status 2 "--keep-last without --compact is refused" "$Q" backup "$KB" "$T/kb-x.quire" --keep-last 2
check "(saying it needs --compact)" grep -q "a --compact copy" "$T/err"
status 2 "--keep-since past the newest commit is refused" "$Q" backup "$KB" "$T/kb-x.quire" --compact --keep-since 99
check "(there is no such commit yet)" grep -q "no commit 99 yet" "$T/err"
status 2 "backup --compact takes no --keep-for" "$Q" backup "$KB" "$T/kb-x.quire" --compact --keep-for 1h
check "no copy was made by a refused backup" test ! -e "$T/kb-x.quire"
"$Q" put "$KB" k8 v8 >/dev/null
status 2 "a compacted copy is no earlier copy for --incremental" "$Q" backup "$KB" "$K" --incremental
check "(another file id)" grep -q "not a copy of" "$T/err"
"$Q" dump "$K" >"$T/d3"
check "and is left as it was" cmp -s "$T/d2" "$T/d3"

# --- ship / receive -------------------------------------------------------------
L=$T/leader.quire
R=$T/follower.quire
"$Q" put "$L" a 1 >/dev/null
"$Q" put "$L" b 2 >/dev/null
newest() { "$Q" history --limit 1 "$1" | cut -f1; }
"$Q" ship "$L" >"$T/stream" 2>"$T/err"
check "ship writes a stream" test -s "$T/stream"
status 0 "receive builds a copy from it" "$Q" receive "$R" <"$T/stream"
check "(saying up to which commit)" grep -q "^$R: received commits up to $(newest "$L") " "$T/out"
"$Q" dump "$L" >"$T/d1"; "$Q" dump "$R" >"$T/d2"
check "the copy holds what the leader holds" cmp -s "$T/d1" "$T/d2"
check "no .partial is left" test ! -e "$R.partial"
status 0 "the same stream again: up to date" "$Q" receive "$R" <"$T/stream"
check "(saying so)" grep -q "up to date" "$T/out"
"$Q" put "$L" c 3 >/dev/null
status 0 "ship --from the copy's newest commit" sh -c "'$Q' ship '$L' --from $(newest "$R") >'$T/inc'"
check "an increment is smaller than the whole stream" test "$(wc -c <"$T/inc")" -lt "$(wc -c <"$T/stream")"
status 0 "receive applies the increment" "$Q" receive "$R" <"$T/inc"
status 0 "the copy has the new key" "$Q" get "$R" c
"$Q" put "$L" d 4 >/dev/null
"$Q" put "$L" e 5 >/dev/null
"$Q" ship "$L" --from "$(newest "$L")" >"$T/gap"
status 2 "a stream that starts past the copy is refused" "$Q" receive "$R" <"$T/gap"
check "(saying where to ship from)" grep -q "ship from $(newest "$R")" "$T/err"
status 2 "ship --from past the newest commit" "$Q" ship "$L" --from 999
status 2 "ship --from needs a number" "$Q" ship "$L" --from x
printf 'this is not a stream of frames, just text long enough\n' >"$T/junk"
status 2 "receive refuses what is not a stream" "$Q" receive "$R" <"$T/junk"
check "(saying so)" grep -q "not a quire stream frame" "$T/err"
head -c 100 "$T/inc" >"$T/cut"
status 2 "a cut stream is refused" "$Q" receive "$T/cut.quire" <"$T/cut"
check "and makes no copy" test ! -e "$T/cut.quire"
"$Q" put "$T/other.quire" x y >/dev/null
"$Q" ship "$T/other.quire" >"$T/ostream"
"$Q" dump "$R" >"$T/d1"
status 2 "another database's stream is refused" "$Q" receive "$R" <"$T/ostream"
check "(saying so)" grep -q "not a copy of the stream's database" "$T/err"
"$Q" dump "$R" >"$T/d2"
check "and the copy is left as it was" cmp -s "$T/d1" "$T/d2"
status 0 "--full-if-needed replaces it" "$Q" receive "$R" --full-if-needed <"$T/ostream"
status 0 "(now a copy of the other one)" "$Q" get "$R" x
status 2 "receive takes no --from" "$Q" receive "$R" --from 1 </dev/null
status 2 "receive needs a file" "$Q" receive </dev/null

# a follower: ship --follow into receive, readers of the copy meanwhile
rm -f "$R"
"$Q" ship --follow "$L" 2>"$T/serr" | "$Q" receive "$R" >"$T/rout" 2>"$T/rerr" &
rpid=$!; bg="$bg $rpid"
exists() { i=0; while [ $i -lt 500 ]; do "$Q" get "$1" "$2" >/dev/null 2>&1 && return 0; sleep 0.01; i=$((i + 1)); done; return 1; }
check "the follower is built" exists "$R" e
"$Q" changes --follow "$R" >"$T/rfeed" 2>/dev/null &
cpid=$!; bg="$bg $cpid"
"$Q" put "$L" live yes >/dev/null
t0=$(now_ms)
if exists "$R" live; then
	ok "a commit on the leader is read on the follower (within 5 s)"
	echo "# leader to follower, through two processes and a pipe: $(( $(now_ms) - t0 )) ms (polled every 10 ms)"
else
	not_ok "a commit on the leader is read on the follower (within 5 s)"
fi
check "the follower's changes feed shows it" wait_for "put	live	yes" "$T/rfeed"
"$Q" compact "$L" >/dev/null
"$Q" put "$L" after compaction >/dev/null
check "commits after a compaction of the leader follow" exists "$R" after
check "the follower is written only by the stream" sh -c "! '$Q' put --no-wait '$R' x y 2>/dev/null"
kill "$cpid"
pkill -f "ship --follow $L" 2>/dev/null
if gone "$rpid"; then wait "$rpid"; rc=$?; else rc=timeout; fi
check "receive ends when the stream is cut (exit 2, got $rc)" test "$rc" = 2
check "(saying the sender stopped)" grep -q "ended without its end frame" "$T/rerr"
"$Q" dump "$L" >"$T/d1"; "$Q" dump "$R" >"$T/d2"
check "the follower holds all the leader's commits" cmp -s "$T/d1" "$T/d2"
status 0 "promoted: the follower opens for writing" "$Q" put "$R" promoted yes

# cascading: a follower of a follower
F1=$T/f1.quire
F2=$T/f2.quire
"$Q" ship --follow "$L" 2>/dev/null | "$Q" receive "$F1" >/dev/null 2>&1 &
c1=$!; bg="$bg $c1"
check "a first follower" exists "$F1" after
"$Q" ship --follow "$F1" 2>/dev/null | "$Q" receive "$F2" >/dev/null 2>&1 &
c2=$!; bg="$bg $c2"
check "a follower of the follower" exists "$F2" after
"$Q" put "$L" cascade yes >/dev/null
check "a commit on the leader reaches the second follower" exists "$F2" cascade
"$Q" compact "$L" >/dev/null
"$Q" put "$L" cascade2 yes >/dev/null
check "and after a compaction of the leader too" exists "$F2" cascade2
pkill -f "ship --follow $L" 2>/dev/null
pkill -f "ship --follow $F1" 2>/dev/null
gone "$c1"; gone "$c2"
"$Q" dump "$L" >"$T/d1"; "$Q" dump "$F2" >"$T/d2"
check "the second follower holds what the leader holds" cmp -s "$T/d1" "$T/d2"

# --- del --prefix and del --range (issue 14) -----------------------------------
G=$T/g.quire
printf 'a\t1\nb\t2\nba\t3\nbb\t4\nbc\t5\nc\t6\nd\t7\ne\t8\n' | "$Q" load "$G"
status 0 "del --prefix exits 0" "$Q" del "$G" --prefix b
same "and says how many keys went" "$T/out" "$G: deleted 4 keys"
"$Q" dump "$G" >"$T/out"
same "the keys with the prefix are gone, the others kept" "$T/out" "$(printf 'a\t1\nc\t6\nd\t7\ne\t8')"
status 0 "del --range FROM TO exits 0" "$Q" del "$G" --range c e
same "says how many" "$T/out" "$G: deleted 2 keys"
"$Q" dump "$G" >"$T/out"
same "FROM is in the range, TO is not" "$T/out" "$(printf 'a\t1\ne\t8')"
status 0 "del --range=FROM TO, one key" "$Q" del --range=a b "$G"
same "says 1 key" "$T/out" "$G: deleted 1 key"
txn=$("$Q" stat --json "$G" | sed 's/.*"txn":\([0-9]*\),.*/\1/')
status 1 "del --range of an empty range exits 1" "$Q" del "$G" --range b c
same "saying 0 keys" "$T/out" "$G: deleted 0 keys"
status 1 "del --prefix without a match exits 1" "$Q" del "$G" --prefix zz
check "and commits nothing" sh -c "'$Q' stat --json '$G' | grep -q '\"txn\":$txn,'"
status 2 "del --range TO before FROM exits 2" "$Q" del "$G" --range e a
check "with the library's reason, naming the file" grep -q "^quire: $G: .*range" "$T/err"
"$Q" dump "$G" >"$T/out"
same "and deletes nothing" "$T/out" "$(printf 'e\t8')"
"$Q" put --escaped "$G" 'k\x001' 1 && "$Q" put --escaped "$G" 'k\x002' 2 && "$Q" put --escaped "$G" 'k\x01' 3
status 0 "del --escaped --range" "$Q" del --escaped "$G" --range 'k\x00' 'k\x01'
same "deletes the keys the escapes name" "$T/out" "$G: deleted 2 keys"
"$Q" dump "$G" >"$T/out"
same "and keeps the end" "$T/out" "$(printf 'e\t8\nk\\x01\t3')"
status 0 "del --escaped --prefix" "$Q" del --escaped "$G" --prefix 'k\x01'
same "takes the prefix escaped" "$T/out" "$G: deleted 1 key"
status 2 "a bad escape in --range" "$Q" del --escaped "$G" --range 'a\q' b
same "is named" "$T/err" 'quire: --range FROM: bad escape at byte 2 of "a\q"'
"$Q" put "$G" m1 x && "$Q" put "$G" m2 x
status 0 "del --prefix --meta" "$Q" del --meta purge "$G" --prefix m
"$Q" history --limit 1 "$G" | cut -f4,6 >"$T/out"
same "one commit, one operation, with the metadata" "$T/out" "$(printf '1\tpurge')"
status 0 "del --prefix '' deletes every key" "$Q" del "$G" --prefix ''
same "every one" "$T/out" "$G: deleted 1 key"
"$Q" stat --json "$G" >"$T/out"
check "none is left" grep -q '"keys":0,' "$T/out"
status 0 "a plain del is as it was" "$Q" put "$G" k v
status 0 "del DB KEY" "$Q" del "$G" k
check "prints nothing" test ! -s "$T/out"
delusage="usage: quire del DB {KEY | --prefix P | --range FROM TO} [--keyspace NAME] [--escaped] [--meta TEXT] [--no-wait]
see quire --help"
status 2 "del KEY --prefix is a usage error" "$Q" del "$G" k --prefix b
same "saying the three exclude each other, with del's usage" "$T/err" "quire: del takes only one of KEY, --prefix, --range
$delusage"
status 2 "del --prefix --range is a usage error" "$Q" del "$G" --prefix b --range a c
same "the same" "$T/err" "quire: del takes only one of KEY, --prefix, --range
$delusage"
status 2 "del KEY --range is a usage error" "$Q" del "$G" k --range a c
status 2 "del --range FROM without TO" "$Q" del "$G" --range a
same "says both are needed" "$T/err" "quire: --range needs FROM and TO"
status 2 "del --range=FROM without TO" "$Q" del "$G" --range=a
status 2 "del --prefix without a value" "$Q" del "$G" --prefix
status 2 "del with neither key nor range" "$Q" del "$G"
same "says what it needs" "$T/err" "quire: del needs DB KEY
$delusage"
status 2 "scan does not take --range" "$Q" scan "$G" --range a b
check "(a usage error)" grep -qx "quire: scan does not take --range" "$T/err"

# changes prints a range delete as one operation, in TSV and JSON
RD=$T/rd.quire
printf 'a\t1\nb\t2\nba\t3\nc\t4\n' | "$Q" load "$RD"   # txn 1, seqs 1-4
"$Q" del "$RD" --range b c >/dev/null                  # txn 2, seq 5
"$Q" put "$RD" x y                                     # txn 3, seq 6
"$Q" del "$RD" --prefix '' >/dev/null                  # txn 4, seq 7: to the last key
"$Q" put --escaped "$RD" 'k\t1' v                      # txn 5, seq 8
"$Q" put "$RD" k2 v                                    # txn 6, seq 9
"$Q" del --escaped "$RD" --range 'k\t' k3 >/dev/null   # txn 7, seq 10
"$Q" put "$RD" z 1                                     # txn 8, seq 11
"$Q" put "$RD" "$(printf 'k\t0')" v                    # txn 9, seq 12
"$Q" changes --since 4 "$RD" >"$T/out"
same "changes: SEQ TXN del_range COUNT START END; no END: to the last key" "$T/out" "$(printf '5\t2\tdel_range\t2\tb\tc
6\t3\tput\tx\ty
7\t4\tdel_range\t3\t
8\t5\tput\tk\\t1\tv
9\t6\tput\tk2\tv
10\t7\tdel_range\t2\tk\\t\tk3
11\t8\tput\tz\t1
12\t9\tput\tk\\t0\tv')"
"$Q" changes --since 4 --limit 3 --json "$RD" >"$T/out"
same "changes --json: start, end (null: to the last key) and count" "$T/out" '{"seq":5,"txn":2,"op":"del_range","start":"b","end":"c","count":2}
{"seq":6,"txn":3,"op":"put","key":"x","value":"y"}
{"seq":7,"txn":4,"op":"del_range","start":"","end":null,"count":3}'
"$Q" changes --since 9 --limit 1 --json "$RD" >"$T/out"
same "changes --json escapes the bounds" "$T/out" '{"seq":10,"txn":7,"op":"del_range","start":"k\t","end":"k3","count":2}'
"$Q" dump --as-of 1 "$RD" >"$T/out"
same "a commit before the range delete still has the keys" "$T/out" "$(printf 'a\t1\nb\t2\nba\t3\nc\t4')"
"$Q" diff "$RD" 1 2 >"$T/out"
same "diff reports them removed" "$T/out" "$(printf -- '-\tb\t2\n-\tba\t3')"
"$Q" log "$RD" ba | cut -f1,2,4- >"$T/out"
same "log: the range delete that removed a key is a version of it" "$T/out" "$(printf '5\t2\tdel_range\n3\t1\tput\t3')"
"$Q" log "$RD" x | cut -f1,2,4- >"$T/out"
same "(a range to the last key too)" "$T/out" "$(printf '7\t4\tdel_range\n6\t3\tput\ty')"
"$Q" log --json --limit 1 "$RD" x | sed 's/"time":"[^"]*","time_ns":[0-9]*,//' >"$T/out"
same "log --json: op del_range" "$T/out" '{"seq":7,"txn":4,"op":"del_range"}'

# changes | load --changes reproduces the database, in either form
"$Q" dump "$RD" >"$T/dump1"
status 0 "changes | load --changes replays range deletes" sh -c "'$Q' changes '$RD' | '$Q' load -v --changes '$T/rd2.quire'"
same "counting them" "$T/err" "quire: $T/rd2.quire: 9 puts, 0 deletes and 3 range deletes (7 keys) in 1 commit; 2 keys in the database"
"$Q" dump "$T/rd2.quire" >"$T/dump2"
check "the dumps are the same" cmp -s "$T/dump1" "$T/dump2"
status 0 "changes --json | load --changes" sh -c "'$Q' changes --json '$RD' | '$Q' load --changes '$T/rd3.quire'"
"$Q" dump "$T/rd3.quire" >"$T/dump2"
check "the dumps are the same" cmp -s "$T/dump1" "$T/dump2"
status 0 "changes --json | load --changes --json --batch 2" sh -c "'$Q' changes --json '$RD' | '$Q' load --changes --json --batch 2 '$T/rd4.quire'"
"$Q" dump "$T/rd4.quire" >"$T/dump2"
check "the dumps are the same (range deletes across commits)" cmp -s "$T/dump1" "$T/dump2"
"$Q" changes "$T/rd2.quire" | cut -f3 | sort | uniq -c | sed 's/^ *//' >"$T/out"
same "the copy's feed has the range deletes as range deletes" "$T/out" "$(printf '3 del_range\n9 put')"
status 2 "load --changes: a JSON del_range without end" sh -c "echo '{\"op\":\"del_range\",\"start\":\"a\"}' | '$Q' load --changes '$T/rd2.quire'"
same "is refused" "$T/err" "quire: stdin line 1: a del_range needs start and end (null: to the last key)"
status 2 "a del_range with a key" sh -c "echo '{\"op\":\"del_range\",\"key\":\"a\",\"start\":\"a\",\"end\":null}' | '$Q' load --changes '$T/rd2.quire'"
status 2 "a put with an end" sh -c "echo '{\"op\":\"put\",\"key\":\"a\",\"value\":\"1\",\"end\":\"b\"}' | '$Q' load --changes '$T/rd2.quire'"
status 2 "a TSV del_range without a count" sh -c "printf '1\\t1\\tdel_range\\ta\\tb\\n' | '$Q' load --changes '$T/rd2.quire'"
same "is refused" "$T/err" "quire: stdin line 1: not put KEY VALUE, del KEY, del_range COUNT START [END], keyspace NAME, rename_keyspace OLD NEW or drop_keyspace COUNT NAME"
status 2 "a TSV line with too many fields" sh -c "printf '1\\t1\\tdel_range\\t1\\ta\\tb\\tc\\n' | '$Q' load --changes '$T/rd2.quire'"
status 2 "load --json (not --changes) refuses a del_range" sh -c "'$Q' changes --json --since 4 --limit 1 '$RD' | '$Q' load --json '$T/rd2.quire'"
"$Q" dump "$T/rd2.quire" >"$T/dump2"
check "and the refused loads changed nothing" cmp -s "$T/dump1" "$T/dump2"

# --- keyspaces ------------------------------------------------------------------
K=$T/ks.quire
status 0 "put --keyspace creates the keyspace" "$Q" put --keyspace users "$K" alice 1   # txn 1
"$Q" put "$K" a 1                                                  # txn 2
"$Q" put "$K" alice default                                        # txn 3
"$Q" put --keyspace users "$K" bob 22                              # txn 4
"$Q" put --keyspace logs "$K" tmp x                                # txn 5
"$Q" del --keyspace logs "$K" tmp                                  # txn 6: logs is empty
status 0 "--escaped reads the keyspace name in TSV escapes" "$Q" put --escaped --keyspace 'bin\x00\tks' "$K" 'k\x01' 'v\n'
status 0 "get --keyspace" "$Q" get --keyspace users "$K" alice
same "reads that keyspace" "$T/out" "1"
"$Q" get "$K" alice >"$T/out"
same "without it: the default keyspace" "$T/out" "default"
status 1 "a key of the default keyspace only is not in a named one" "$Q" get --keyspace users "$K" a
check "(exit 1 as for any missing key, silently)" test ! -s "$T/err"
"$Q" get --json --keyspace users --as-of 1 "$K" alice >"$T/out"
same "get --keyspace --as-of --json" "$T/out" '{"key":"alice","value":"1"}'
"$Q" get --escaped --keyspace 'bin\x00\tks' --raw "$K" 'k\x01' >"$T/out"
printf 'v\n' >"$T/want"
check "get --escaped: escaped name and key" cmp -s "$T/out" "$T/want"
"$Q" scan --keyspace users "$K" >"$T/out"
same "scan --keyspace: that keyspace's keys only" "$T/out" "$(printf 'alice\t1\nbob\t22')"
"$Q" scan --keyspace users --prefix b --json "$K" >"$T/out"
same "scan --keyspace --prefix --json" "$T/out" '{"key":"bob","value":"22"}'
"$Q" dump "$K" >"$T/out"
same "dump: the default keyspace only" "$T/out" "$(printf 'a\t1\nalice\tdefault')"
"$Q" dump --keyspace users --reverse "$K" >"$T/out"
same "dump --keyspace" "$T/out" "$(printf 'bob\t22\nalice\t1')"
status 0 "scan --keyspace of an empty keyspace" "$Q" scan --keyspace logs "$K"
check "prints nothing" test ! -s "$T/out"

# keyspaces: the default keyspace (empty name) first, then by name
"$Q" keyspaces "$K" >"$T/out"
same "keyspaces: NAME KEYS BYTES" "$T/out" "$(printf '\t2\t14\nbin\\x00\\tks\t1\t4\nlogs\t0\t0\nusers\t2\t11')"
"$Q" keyspaces --json "$K" >"$T/out"
same "keyspaces --json: an array" "$T/out" '[{"name":"","keys":2,"bytes":14},
{"name":"bin\u0000\tks","keys":1,"bytes":4},
{"name":"logs","keys":0,"bytes":0},
{"name":"users","keys":2,"bytes":11}]'
"$Q" keyspaces --as-of 1 "$K" >"$T/out"
same "keyspaces --as-of" "$T/out" "$(printf '\t0\t0\nusers\t1\t6')"
"$Q" keyspaces "$S" >"$T/out"
same "a database without keyspaces: the default one" "$T/out" "$(printf '\t7\t17')"

# stat --keyspace
"$Q" stat --keyspace users "$K" >"$T/out"
check "stat --keyspace names it" grep -qx "keyspace: *users" "$T/out"
check "its keys" grep -qx "keys: *2" "$T/out"
check "and their bytes" grep -qx "bytes: *11 (its keys and values)" "$T/out"
"$Q" stat --json --keyspace users --as-of 1 "$K" >"$T/out"
check "stat --json --keyspace --as-of" grep -q '"keyspace":"users","txn":1,.*"keys":1,"bytes":6}$' "$T/out"
status 0 "stat --escaped --keyspace" "$Q" stat --escaped --keyspace 'bin\x00\tks' "$K"
check "names it escaped" grep -qx 'keyspace: *bin\\x00\\tks' "$T/out"

# an unknown keyspace: "no", for reading and deleting commands alike
for c in "get $K alice" "scan $K" "dump $K" "stat $K" "changes $K" "log $K alice" "diff $K 0 1" "del $K alice" "del $K --prefix a" "del $K --range a b"; do
	status 1 "$c --keyspace nope exits 1" "$Q" $c --keyspace nope
	same "saying there is no such keyspace" "$T/err" "quire: $K: no keyspace nope"
done
"$Q" keyspaces "$K" | cut -f1 >"$T/out"
check "del --keyspace did not create it" sh -c "! grep -qx nope '$T/out'"

# keyspace names: 1 to 255 bytes
status 2 "an empty keyspace name is refused" "$Q" put --keyspace '' "$K" k v
same "saying why" "$T/err" "quire: --keyspace: a keyspace name is 1 to 255 bytes, not 0"
long=$(printf '%0255d' 0)
status 2 "a 256-byte name is refused" "$Q" put --keyspace "${long}0" "$K" k v
same "saying why" "$T/err" "quire: --keyspace: a keyspace name is 1 to 255 bytes, not 256"
status 2 "by reading commands too" "$Q" scan --keyspace '' "$K"
status 0 "a 255-byte name is fine" "$Q" put --keyspace "$long" "$T/long.quire" k v
status 0 "and found again" "$Q" get --keyspace "$long" "$T/long.quire" k
status 2 "a bad escape in a name" "$Q" get --escaped --keyspace 'a\q' "$K" k
same "is refused" "$T/err" 'quire: --keyspace: bad escape at byte 2 of "a\q"'

# del in a keyspace
status 0 "del --keyspace" "$Q" del --keyspace users "$K" bob
status 1 "deletes it there" "$Q" get --keyspace users "$K" bob
status 1 "del --keyspace of a key not there exits 1" "$Q" del --keyspace users "$K" a
status 0 "the default keyspace keeps its key" "$Q" get "$K" a
"$Q" put --keyspace users "$K" bob 22
status 0 "del --keyspace --range" "$Q" del --keyspace users "$K" --range b c
same "counts that keyspace's keys" "$T/out" "$K: deleted 1 key"
"$Q" put --keyspace users "$K" bob 22
status 0 "del --keyspace --prefix ''" "$Q" del --keyspace users "$K" --prefix ''
same "empties the keyspace" "$T/out" "$K: deleted 2 keys"
status 0 "the keyspace stays, empty" "$Q" stat --keyspace users "$K"
check "(0 keys)" grep -qx "keys: *0" "$T/out"
"$Q" put --keyspace users "$K" alice 1
"$Q" put --keyspace users "$K" bob 22

# log and diff in a keyspace
"$Q" put --keyspace hist "$K" c 1
"$Q" del --keyspace hist "$K" c
"$Q" put --keyspace hist "$K" c 2
"$Q" put "$K" c x
"$Q" log --keyspace hist "$K" c | cut -f4,5 >"$T/out"
same "log --keyspace: the key's versions there" "$T/out" "$(printf 'put\t2\ndel\nput\t1')"
"$Q" log "$K" c | cut -f4,5 >"$T/out"
same "log without it: the default keyspace's" "$T/out" "$(printf 'put\tx')"
status 1 "log --keyspace of a key never written there" "$Q" log --keyspace users "$K" a
"$Q" drop-keyspace "$K" hist >/dev/null
D1=$("$Q" history --limit 1 "$K" | cut -f1)
"$Q" put --keyspace users "$K" bob 23
"$Q" put --keyspace new "$K" n 1
"$Q" diff --keyspace users "$K" "$D1" "$((D1 + 2))" >"$T/out"
same "diff --keyspace" "$T/out" "$(printf '~\tbob\t22\t23')"
"$Q" diff --keyspace new "$K" "$D1" "$((D1 + 2))" >"$T/out"
same "diff --keyspace of a keyspace created in between: all added" "$T/out" "$(printf '+\tn\t1')"
"$Q" diff --json --keyspace new "$K" "$((D1 + 2))" "$D1" >"$T/out"
same "and the other way round: all removed" "$T/out" '{"op":"removed","key":"n","a":"1"}'
status 1 "diff --keyspace of one neither commit has" "$Q" diff --keyspace new "$K" 0 1

# changes: every keyspace, each line naming its own
C=$T/ksc.quire
"$Q" put "$C" a 1
"$Q" put --keyspace users "$C" alice 1
printf 'bob\t22\n' | "$Q" load --keyspace users "$C"
"$Q" rename-keyspace "$C" users people >/dev/null
"$Q" put --escaped --keyspace 'x\ty' "$C" k v
"$Q" del --keyspace people "$C" alice
"$Q" drop-keyspace "$C" 'x	y' >/dev/null
"$Q" changes "$C" | cut -f3- >"$T/out"
same "changes: ks=NAME after TXN in a named keyspace, keyspace operations on their own" "$T/out" "$(printf 'put\ta\t1
keyspace\tusers
ks=users\tput\talice\t1
ks=users\tput\tbob\t22
rename_keyspace\tusers\tpeople
keyspace\tx\\ty
ks=x\\ty\tput\tk\tv
ks=people\tdel\talice
drop_keyspace\t1\tx\\ty')"
check "with their SEQ and TXN" test "$("$Q" changes "$C" | cut -f1 | grep -c '^[0-9][0-9]*$')" = 9
"$Q" changes --json "$C" | sed 's/^{"seq":[0-9]*,"txn":[0-9]*,//' >"$T/out"
same "changes --json: keyspace and keyspace_id" "$T/out" '"op":"put","key":"a","value":"1"}
"keyspace":"users","keyspace_id":1,"op":"keyspace"}
"keyspace":"users","keyspace_id":1,"op":"put","key":"alice","value":"1"}
"keyspace":"users","keyspace_id":1,"op":"put","key":"bob","value":"22"}
"keyspace":"people","keyspace_id":1,"op":"rename_keyspace","from":"users"}
"keyspace":"x\ty","keyspace_id":2,"op":"keyspace"}
"keyspace":"x\ty","keyspace_id":2,"op":"put","key":"k","value":"v"}
"keyspace":"people","keyspace_id":1,"op":"del","key":"alice"}
"keyspace":"x\ty","keyspace_id":2,"op":"drop_keyspace","count":1}'
"$Q" changes --keyspace people "$C" | cut -f3- >"$T/out"
printf 'ks=users\tput\talice\t1\nks=users\tput\tbob\t22\nks=people\tdel\talice\n' >"$T/want"
n=$((n + 1))
if cmp -s "$T/want" "$T/out"; then r=ok; else r="not ok"; fi
echo "$r $n - changes --keyspace: its operations, by the name each was made under"
status 0 "changes --keyspace --follow --limit ends after N" "$Q" changes --keyspace people --follow --limit 1 "$C"
check "(one line)" test "$(wc -l <"$T/out")" = 1

# round trips keep the keyspaces
status 0 "changes | load --changes" sh -c "'$Q' changes '$C' | '$Q' load --changes '$T/ksc2.quire'"
status 0 "changes --json | load --changes" sh -c "'$Q' changes --json '$C' | '$Q' load --changes '$T/ksc3.quire'"
"$Q" dump -a "$C" >"$T/dump1"
"$Q" dump -a "$T/ksc2.quire" >"$T/dump2"
check "rebuild every keyspace (TSV)" cmp -s "$T/dump1" "$T/dump2"
"$Q" dump -a "$T/ksc3.quire" >"$T/dump2"
check "rebuild every keyspace (JSON)" cmp -s "$T/dump1" "$T/dump2"
"$Q" keyspaces "$T/ksc2.quire" >"$T/out"
same "renamed and dropped as in the original" "$T/out" "$(printf '\t1\t2\npeople\t1\t5')"
status 0 "changes --keyspace | load --changes" sh -c "'$Q' changes --keyspace users '$K' | '$Q' load --changes '$T/ksc4.quire'"
"$Q" dump --keyspace users "$T/ksc4.quire" >"$T/out"
"$Q" dump --keyspace users "$K" >"$T/want"
check "puts its operations back into their keyspace" cmp -s "$T/want" "$T/out"
"$Q" keyspaces "$T/ksc4.quire" | cut -f1 >"$T/out"
same "and that keyspace only" "$T/out" "$(printf '\nusers')"
"$Q" dump -a "$K" >"$T/dump1"
check "dump -a: each named keyspace after a keyspace= line, empty ones too" grep -qx 'keyspace=logs' "$T/dump1"
status 0 "dump --all-keyspaces | load" sh -c "'$Q' load '$T/ksd.quire' <'$T/dump1'"
"$Q" dump --all-keyspaces "$T/ksd.quire" >"$T/dump2"
check "reproduces every keyspace, byte for byte" cmp -s "$T/dump1" "$T/dump2"
"$Q" keyspaces "$K" >"$T/want"
"$Q" keyspaces "$T/ksd.quire" >"$T/out"
check "the same keyspaces, keys and bytes" cmp -s "$T/want" "$T/out"
"$Q" dump -a --json "$K" >"$T/dumpj"
check "dump -a --json: a {\"keyspace\":NAME} line before each" grep -qx '{"keyspace":"logs"}' "$T/dumpj"
status 0 "dump -a --json | load --json" sh -c "'$Q' load --json '$T/ksj.quire' <'$T/dumpj'"
"$Q" dump -a "$T/ksj.quire" >"$T/dump2"
check "reproduces every keyspace" cmp -s "$T/dump1" "$T/dump2"
status 0 "dump --keyspace | load --keyspace" sh -c "'$Q' dump --keyspace users '$K' | '$Q' load --keyspace copy '$T/ksd.quire'"
"$Q" dump --keyspace copy "$T/ksd.quire" >"$T/out"
"$Q" dump --keyspace users "$K" >"$T/want"
check "copies one keyspace into another" cmp -s "$T/want" "$T/out"
status 0 "load --keyspace of nothing" sh -c "'$Q' load --keyspace none '$T/ksd.quire' </dev/null"
status 1 "creates no keyspace" "$Q" stat --keyspace none "$T/ksd.quire"
printf '{"keyspace":"j","key":"k","value":"v"}\n' | "$Q" load --json "$T/ksd.quire"
status 0 "load --json: a record's own keyspace" "$Q" get --keyspace j "$T/ksd.quire" k
status 2 "dump --all-keyspaces and --keyspace do not combine" "$Q" dump -a --keyspace users "$K"
status 2 "scan does not take --all-keyspaces" "$Q" scan --all-keyspaces "$K"

# load refuses malformed keyspaces
status 2 "load: a keyspace= line without a name" sh -c "printf 'keyspace=\\n' | '$Q' load '$T/ksbad.quire'"
same "is refused" "$T/err" "quire: stdin line 1: a keyspace name is 1 to 255 bytes"
status 2 "load --changes: an empty ks=" sh -c "printf '1\\t1\\tks=\\tput\\tk\\tv\\n' | '$Q' load --changes '$T/ksbad.quire'"
same "is refused" "$T/err" "quire: stdin line 1: a keyspace name is 1 to 255 bytes"
status 2 "load --changes: ks= before a keyspace operation" sh -c "printf '1\\t1\\tks=a\\tkeyspace\\tb\\n' | '$Q' load --changes '$T/ksbad.quire'"
status 2 "load --changes: a keyspace of null" sh -c "echo '{\"op\":\"put\",\"keyspace\":null,\"key\":\"k\",\"value\":\"v\"}' | '$Q' load --changes '$T/ksbad.quire'"
same "is refused" "$T/err" "quire: stdin line 1: a keyspace of null: the feed did not know its name"
status 2 "load --changes: a rename_keyspace without from" sh -c "echo '{\"op\":\"rename_keyspace\",\"keyspace\":\"b\"}' | '$Q' load --changes '$T/ksbad.quire'"
same "is refused" "$T/err" "quire: stdin line 1: a rename_keyspace needs from (the old name)"
check "and no file was left" test ! -e "$T/ksbad.quire"

# drop-keyspace and rename-keyspace
status 0 "rename-keyspace" "$Q" rename-keyspace "$K" logs events
same "says so" "$T/out" "$K: renamed keyspace logs to events"
status 1 "the old name is gone" "$Q" scan --keyspace logs "$K"
status 2 "rename-keyspace onto an existing name" "$Q" rename-keyspace "$K" events users
same "is refused" "$T/err" "quire: $K: keyspace users exists already"
status 1 "rename-keyspace of an unknown keyspace exits 1" "$Q" rename-keyspace "$K" nope other
same "saying so" "$T/err" "quire: $K: no keyspace nope"
status 0 "drop-keyspace" "$Q" drop-keyspace "$K" users
same "says how many keys went" "$T/out" "$K: dropped keyspace users (2 keys)"
status 1 "the keyspace is gone" "$Q" get --keyspace users "$K" alice
status 0 "but older commits still have it" "$Q" get --keyspace users --as-of 1 "$K" alice
status 1 "drop-keyspace of an unknown keyspace exits 1" "$Q" drop-keyspace "$K" users
same "saying so" "$T/err" "quire: $K: no keyspace users"
status 0 "drop-keyspace --escaped" "$Q" drop-keyspace --escaped "$K" 'bin\x00\tks'
same "names it escaped" "$T/out" "$K: dropped keyspace bin\\x00\\tks (1 key)"
status 2 "drop-keyspace of a missing database" "$Q" drop-keyspace "$T/none.quire" x
check "does not create it" test ! -e "$T/none.quire"
status 2 "drop-keyspace with an empty name" "$Q" drop-keyspace "$K" ''
same "is refused" "$T/err" "quire: NAME: a keyspace name is 1 to 255 bytes, not 0"

# --- help and version ---------------------------------------------------------
status 0 "--help exits 0" "$Q" --help
check "--help lists every command" sh -c "for c in put get del scan load dump stat check salvage backup ship receive history changes log diff compact retention keyspaces drop-keyspace rename-keyspace; do grep -q \"  \$c \" '$T/out' || exit 1; done"
status 0 "--version exits 0" "$Q" --version
check "--version names the version" grep -q "^quire [0-9]" "$T/out"
status 2 "no command is a usage error" "$Q"

echo "1..$n"
exit 0
