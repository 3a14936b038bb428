#!/bin/sh
# Check that the files of a directory depend on each other one way only.
#
#   scripts/layers.sh DIR OBJECT...
#
# Reads the symbols each object file defines and uses (nm), draws an edge
# a -> b when a uses a symbol b defines, and fails (exit 1) if the graph
# has a cycle between different files, printing each cycle found. With
# --print it prints the files in layer order (each after every file it
# uses) instead. CI runs it on lib/ and tools/ (scripts/check.sh).
set -eu

print=0
if [ "${1:-}" = --print ]; then
	print=1
	shift
fi
[ $# -ge 2 ] || { echo "usage: $0 [--print] DIR OBJECT..." >&2; exit 2; }
dir=$1
shift

NM=${NM:-nm}
for o in "$@"; do
	# libtool names objects libfoo_la-name.o or name.o: the source's name
	n=$(basename "$o" .o)
	n=${n#*_la-}
	$NM -P "$o" 2>/dev/null | awk -v f="$n" '
		$2 ~ /^[TDBRCVW]$/ { print "D", f, $1 }
		$2 == "U" { print "U", f, $1 }'
done | awk -v dir="$dir" -v print_order="$print" '
	$1 == "D" { def[$3] = $2; files[$2] = 1; next }
	$1 == "U" { use[$2, $3] = 1; files[$2] = 1; next }
	END {
		for (k in use) {
			split(k, p, SUBSEP)
			a = p[1]; s = p[2]
			if (!(s in def) || def[s] == a)
				continue
			b = def[s]
			if (!((a, b) in edge)) {
				edge[a, b] = s
				nout[a]++
				out[a, nout[a]] = b
			}
		}
		# depth-first search; a back edge closes a cycle
		for (f in files)
			state[f] = 0
		cycles = 0
		n = 0
		for (f in files)
			order[++n] = f
		# sort the names, so that the output is the same every time
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && order[j] < order[j - 1]; j--) {
				t = order[j]; order[j] = order[j - 1]; order[j - 1] = t
			}
		layer = 0
		for (i = 1; i <= n; i++)
			if (state[order[i]] == 0)
				visit(order[i])
		if (print_order) {
			for (i = 1; i <= layer; i++)
				print done_order[i]
			exit cycles ? 1 : 0
		}
		if (cycles) {
			printf "%s: %d cycle(s) between files\n", dir, cycles
			exit 1
		}
		printf "%s: %d files, no cycle\n", dir, n
	}
	function visit(f,    i, g) {
		state[f] = 1
		stack[++depth] = f
		for (i = 1; i <= nout[f]; i++) {
			g = out[f, i]
			if (state[g] == 1) {
				cycles++
				line = g
				for (j = depth; j >= 1 && stack[j] != g; j--)
					line = stack[j] " -> " line
				printf "cycle: %s -> %s (uses %s)\n", g, line, edge[f, g]
			} else if (state[g] == 0) {
				visit(g)
			}
		}
		depth--
		state[f] = 2
		done_order[++layer] = f
	}'
