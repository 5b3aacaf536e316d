#!/bin/bash
# bench-scim.sh: issue 15's SCIM load run, by hand. Builds gatehouse and
# gatehouse-bench, starts `gatehouse serve` on a fresh database (rate limits off,
# pprof on --debug-addr), and runs `gatehouse-bench scim` against it beside the bare
# reference handler on the same engine, driven by the same client in the same run.
# The share table at the end is what the issue's targets are stated in.
#
# usage: scripts/bench-scim.sh sqlite|postgres [N] [RUNS] [gatehouse-bench scim flags…]
#   N      users (default 10000); RUNS  runs, medians compared (default 3)
# environment:
#   PGURL  PostgreSQL server, without a database (default postgres://postgres@127.0.0.1:5432);
#          two databases are created for the run and dropped after it
#   PORT, DEBUG  the server's and its profiler's ports (default 18080, 16060)
#   BIN    use prebuilt gatehouse and gatehouse-bench binaries from this directory
#   SEED=1 seed the users and the big group before the timed phases (-seed-db): how a
#          100k-member group is built in minutes instead of hours
set -euo pipefail
kind=${1:?usage: bench-scim.sh sqlite|postgres [N] [RUNS] [flags]}
n=${2:-10000}
runs=${3:-3}
shift $(($# < 3 ? $# : 3))
PORT=${PORT:-18080}
DEBUG=${DEBUG:-16060}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
W=$(mktemp -d /tmp/bench-scim.XXXXXX)
pid= dropdb=
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	[ -z "$dropdb" ] || psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $dropdb" -c "DROP DATABASE IF EXISTS ${dropdb}_ref"
}
trap cleanup EXIT
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
	BIN=$W/bin
	go build -o "$BIN/gatehouse" ./cmd/gatehouse
	go build -o "$BIN/gatehouse-bench" ./cmd/gatehouse-bench
fi
case $kind in
sqlite)
	DB=sqlite:$W/gatehouse.db
	REF=sqlite:$W/reference.db
	;;
postgres)
	name=bench_scim_$$
	psql -q "$PGURL/postgres" -c "CREATE DATABASE $name" -c "CREATE DATABASE ${name}_ref"
	dropdb=$name
	DB="$PGURL/$name?sslmode=disable"
	REF="$PGURL/${name}_ref?sslmode=disable"
	;;
*)
	echo "bench-scim.sh: sqlite or postgres, not $kind" >&2
	exit 2
	;;
esac
"$BIN/gatehouse" migrate --db "$DB" >/dev/null
"$BIN/gatehouse" org create --db "$DB" --slug bench --name Bench --admin-email admin@bench.example.com >/dev/null
token=$("$BIN/gatehouse" token create --db "$DB" --kind scim --org bench --name okta \
	--external-url "http://127.0.0.1:$PORT" | grep -o 'ghs_[0-9a-f]*')
"$BIN/gatehouse" serve --db "$DB" --addr "127.0.0.1:$PORT" --debug-addr "127.0.0.1:$DEBUG" \
	--rate-limit-scim 0 --rate-limit-ip 0 --rate-limit-api 0 \
	--secret-key "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$W/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	curl -fso /dev/null "http://127.0.0.1:$PORT/healthz" && break
	sleep 0.1
done
seed=()
[ "${SEED:-}" != 1 ] || seed=(-seed-db "$DB")
"$BIN/gatehouse-bench" scim "${seed[@]}" -url "http://127.0.0.1:$PORT" -token "$token" -n "$n" -c 16 \
	-runs "$runs" -pid "$pid" -reference "$REF" "$@"
echo "server log: $W/serve.log"
