#!/bin/sh
# apidocs.sh - the error codes each function can return, as quire.h and
# quire(3) list them, must agree. TAP output; run by `make check`.
#
# In quire.h the codes are those named after "@return" in the comment just
# before a declaration (one comment may cover several declarations). In
# quire(3) each "Returns ..." paragraph is introduced by a roff comment
#   .\" @return quire_name [quire_name ...]
# and its codes are those named from there to the next paragraph macro.
# Every function returning int must have both lists, and they must hold the
# same codes: a code documented in one place only is what a caller of the
# other misses.
set -u
SRC=${QUIRE_SRCDIR:-$(dirname "$0")/..}
H=$SRC/include/quire.h
M=$SRC/man/quire.3
T=${QUIRE_TEST_DIR:-/tmp}/apidocs.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT

# The error codes named in a text, for both awk programs below.
CODES='
function codes(text,   out, s) {
	out = ""
	s = text
	while (match(s, /QUIRE_(NOTFOUND|E[A-Z]+)/)) {
		out = out " " substr(s, RSTART, RLENGTH)
		s = substr(s, RSTART + RLENGTH)
	}
	return out
}
'

# "name code code ..." per int function of quire.h (sorted codes; a name
# alone when its comment has no @return).
awk "$CODES"'
/\/\*/ { incom = 1; com = ""; gap = 0 }
incom { com = com " " $0 }
/\*\// { if (incom) { incom = 0; last = com; gap = 0; next } }
!incom && /^int quire_[a-z_]*\(/ {
	name = $0
	sub(/^int /, "", name)
	sub(/\(.*/, "", name)
	r = ""
	i = index(last, "@return")
	if (i)
		r = codes(substr(last, i))
	print name, (i ? "@" : "-"), r
	next
}
!incom && /^[ \t]*$/ { gap++ ; if (gap > 1) last = "" }
' "$H" >"$T/h.raw"

awk "$CODES"'
function flush(   i) {
	for (i = 1; i <= nn; i++)
		print names[i], codes(text)
	nn = 0
	text = ""
}
/^\.\\" @return / {
	flush()
	nn = split($0, f, " ") - 2
	for (i = 1; i <= nn; i++)
		names[i] = f[i + 2]
	next
}
/^\.(TP|PP|SS|SH|IP|P|LP)( |$)/ { flush() }
nn { text = text " " $0 }
END { flush() }
' "$M" >"$T/m.raw"

# one line per function: sorted, unique codes
norm() {
	while read -r name rest; do
		set -- $rest
		printf '%s' "$name"
		for c in "$@"; do
			[ "$c" = "@" ] || [ "$c" = "-" ] || echo "$c"
		done | sort -u | tr '\n' ' ' | sed 's/^/ /; s/ $//'
		echo
	done
}

n=0
fails=0
total=$(($(wc -l <"$T/h.raw") + 1))
echo "1..$total"
while read -r name mark rest; do
	n=$((n + 1))
	hc=$(echo "$name $rest" | norm | cut -d' ' -f2-)
	[ "$hc" = "$name" ] && hc=""
	ml=$(awk -v f="$name" '$1 == f' "$T/m.raw")
	if [ "$mark" != "@" ]; then
		echo "not ok $n - $name: no @return in quire.h"
		fails=$((fails + 1))
	elif [ -z "$ml" ]; then
		echo "not ok $n - $name: quire(3) has no '.\\\" @return $name' paragraph"
		fails=$((fails + 1))
	else
		mc=$(echo "$ml" | head -n 1 | norm | cut -d' ' -f2-)
		[ "$mc" = "$name" ] && mc=""
		if [ "$hc" = "$mc" ]; then
			echo "ok $n - $name"
		else
			echo "not ok $n - $name"
			echo "# quire.h:  $hc"
			echo "# quire(3): $mc"
			fails=$((fails + 1))
		fi
	fi
done <"$T/h.raw"

# every code quire.h defines is explained in quire(3)'s Errors, and no other
n=$((n + 1))
grep -o '^#define QUIRE_\(NOTFOUND\|E[A-Z]*\) ' "$H" | cut -d' ' -f2 |
	sort -u >"$T/h.codes"
awk '/^\.SS Errors/ { p = 1; next } /^\.S[SH] / { p = 0 }
	p && /^\.TP/ { getline; if ($1 == ".B") print $2 }' "$M" |
	sort -u >"$T/m.codes"
if cmp -s "$T/h.codes" "$T/m.codes"; then
	echo "ok $n - every error code is explained under Errors in quire(3)"
else
	echo "not ok $n - error codes of quire.h and quire(3)'s Errors differ"
	diff "$T/h.codes" "$T/m.codes" | sed 's/^/# /'
	fails=$((fails + 1))
fi
[ "$fails" = 0 ]
