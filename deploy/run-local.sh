#!/usr/bin/env bash
# run-local.sh — run trialogd on this machine against a local MariaDB.
#
# Finds a database with deploy/mariadb-local.sh (TRIALOG_MYSQL_DSN, else 127.0.0.1:3306 as root,
# else a private server under the data directory), then execs bin/trialogd (build it with
# `make build`; `make run` does both). Extra arguments go to trialogd, e.g.
#   deploy/run-local.sh --origin example.org/trialog
#
# Environment: DATA_DIR (else TRIALOG_DATA_DIR, else .data; relative to the repository root),
# TRIALOG_LISTEN (default 127.0.0.1:8080), and everything deploy/mariadb-local.sh reads.
# trialogd's other TRIALOG_* variables (see deploy/trialogd.env.example) reach it unchanged.
set -euo pipefail

cd "$(dirname "$0")/.."

data_dir=${DATA_DIR:-${TRIALOG_DATA_DIR:-.data}}
listen=${TRIALOG_LISTEN:-127.0.0.1:8080}

if [ ! -x bin/trialogd ]; then
	echo "run-local: bin/trialogd is missing; build it with 'make build' (or use 'make run')." >&2
	exit 1
fi

dsn=$(DATA_DIR="$data_dir" deploy/mariadb-local.sh)

# The URL a client on this machine uses: a wildcard listen address is reached via loopback.
host=${listen%:*}
port=${listen##*:}
case "$host" in
"" | 0.0.0.0 | "[::]" | "::") host=127.0.0.1 ;;
esac
url=http://$host:$port

demo="make demo"
[ "$url" = http://127.0.0.1:8080 ] || demo="$demo TRIALOG_URL=$url"
[ "$data_dir" = .data ] || demo="$demo DATA_DIR=$data_dir"

bin/trialogd --mysql-dsn "$dsn" --data-dir "$data_dir" --listen "$listen" "$@" &
pid=$!
# Stop trialogd with this script; SIGTERM lets it finish requests and shut down cleanly.
trap 'kill -TERM "$pid" 2>/dev/null' INT TERM

# Say "serving" only once it is: /readyz answers 200 (schema, tree and first checkpoint done).
# If trialogd exits first, say so with its exit status instead.
ready=
for ((i = 0; i < 600; i++)); do
	if ! kill -0 "$pid" 2>/dev/null; then
		break
	fi
	if curl -fsS -o /dev/null --max-time 1 "$url/readyz" 2>/dev/null; then
		ready=1
		break
	fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	status=0
	if kill -0 "$pid" 2>/dev/null; then
		echo "run-local: trialogd did not become ready on $url within 60 s (see its log above); stopping it." >&2
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" || true
		exit 1
	fi
	wait "$pid" || status=$?
	echo "run-local: trialogd failed to start (exit status $status); its log above says why." >&2
	exit "${status/#0/1}"
fi
{
	echo "trialogd: serving on $url"
	echo "trialogd: admin token in $data_dir/admin.token (created on first start)"
	echo "trialogd: notarize a sample document end to end, from another terminal: $demo"
} >&2
status=0
wait "$pid" || status=$?
# A signal to this script interrupts the first wait: wait again for trialogd's own exit.
if kill -0 "$pid" 2>/dev/null; then
	wait "$pid" || status=$?
fi
exit "$status"
