#!/bin/sh
# faults.sh: run Gatehouse's fault tests (internal/faults) long, by hand.
#
# They build the real binary and hurt `gatehouse serve` running as a subprocess:
# SIGKILL during SCIM provisioning on SQLite, PostgreSQL cut (or really restarted)
# during load, SIGTERM during load, a flood of bad input, SIGKILL between sending
# and recording a webhook delivery, two instances delivering webhooks.
# `go test ./internal/faults` runs the same tests CI-sized; see docs/operations.md,
# "Faults".
#
# usage: scripts/faults.sh [options]
#   --quick              CI sizes instead of the long defaults
#   --load DUR           load before each fault (long default 10s)
#   --rounds N           SIGKILL rounds on one SQLite file (long default 10)
#   --outage DUR         how long PostgreSQL stays cut off (long default 20s)
#   --workers N          concurrent clients (long default 32)
#   --flood N            random bad requests per endpoint (long default 2000)
#   --events N           events per round of the webhook tests (long default 300)
#   --hook-rounds N      SIGKILL rounds between sending and recording a webhook delivery (long default 5)
#   --postgres DSN       PostgreSQL for the PostgreSQL tests (default: $GATEHOUSE_TEST_POSTGRES;
#                        without one they are skipped). Each test uses a schema of its own.
#   --pg-restart CMD     also restart the PostgreSQL server for real during load, with CMD
#                        (e.g. 'pg_ctlcluster 15 main restart'). Every client of that server
#                        sees the restart: use a throwaway cluster, or the local one when
#                        nothing else uses it.
#   --pg-restart-local   --pg-restart with the first cluster pg_lsclusters lists
#   --run REGEX          only the tests matching REGEX (go test -run)
#   -h, --help           this text
set -eu

cd "$(dirname "$0")/.."
long=-faults.long
args=""
run=.
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) long="" ;;
	--load) args="$args -faults.load=$2"; shift ;;
	--rounds) args="$args -faults.rounds=$2"; shift ;;
	--outage) args="$args -faults.outage=$2"; shift ;;
	--workers) args="$args -faults.workers=$2"; shift ;;
	--flood) args="$args -faults.flood=$2"; shift ;;
	--events) args="$args -faults.events=$2"; shift ;;
	--hook-rounds) args="$args -faults.hook-rounds=$2"; shift ;;
	--postgres) GATEHOUSE_TEST_POSTGRES="$2"; export GATEHOUSE_TEST_POSTGRES; shift ;;
	--pg-restart) restart="$2"; shift ;;
	--pg-restart-local)
		restart=$(pg_lsclusters -h | awk 'NR==1 {print "pg_ctlcluster " $1 " " $2 " restart"}')
		[ -n "$restart" ] || { echo "faults.sh: pg_lsclusters lists no cluster" >&2; exit 2; }
		;;
	--run) run="$2"; shift ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "faults.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done

if [ -z "${GATEHOUSE_TEST_POSTGRES:-}" ]; then
	echo "faults.sh: no --postgres / GATEHOUSE_TEST_POSTGRES: the PostgreSQL tests will be skipped" >&2
fi
echo "faults.sh: go test ./internal/faults -run '$run' $long$args${restart:+ -faults.pg-restart='$restart'}" >&2
start=$(date +%s)
# shellcheck disable=SC2086 # args is a list of flags
if [ -n "${restart:-}" ]; then
	go test -count=1 -v -timeout 2h -run "$run" ./internal/faults -args $long $args "-faults.pg-restart=$restart"
else
	go test -count=1 -v -timeout 2h -run "$run" ./internal/faults -args $long $args
fi
echo "faults.sh: passed in $(( $(date +%s) - start ))s" >&2
