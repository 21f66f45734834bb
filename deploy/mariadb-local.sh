#!/usr/bin/env bash
# mariadb-local.sh — print a MySQL DSN that trialogd can use on this machine.
#
# Only the DSN goes to stdout (so `dsn=$(deploy/mariadb-local.sh)` works); messages go to
# stderr. The first of these that applies wins:
#
#   1. $TRIALOG_MYSQL_DSN is set: print it unchanged.
#   2. A server on 127.0.0.1:3306 accepts root without a password:
#      print root@tcp(127.0.0.1:3306)/trialog.
#   3. Otherwise start (once) a private MariaDB for the current user under
#      <data dir>/mysql — data in data/, socket mysqld.sock, log mysqld.log,
#      no TCP port — and print root@unix(<absolute socket path>)/trialog.
#
# trialogd creates the `trialog` database itself; this script only provides a server.
#
# Environment:
#   TRIALOG_MYSQL_DSN         use this DSN, skip everything else
#   DATA_DIR                  data dir holding the private server (else TRIALOG_DATA_DIR, else .data)
#   TRIALOG_SKIP_LOCAL_MYSQL  set to 1 to ignore a server on 127.0.0.1:3306 (go to step 3)
#
# `deploy/mariadb-local.sh stop` shuts the private server down (the data is kept).
set -euo pipefail

log() { printf 'mariadb-local: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# mariadbd and mariadb-install-db live in /usr/sbin and /usr/bin on Debian; a non-root PATH
# often lacks the sbin directories.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

first_cmd() { # print the first of the named commands that exists
	local c
	for c in "$@"; do
		if command -v "$c" >/dev/null 2>&1; then
			command -v "$c"
			return 0
		fi
	done
	return 1
}

client=$(first_cmd mariadb mysql || true)
admin=$(first_cmd mariadb-admin mysqladmin || true)

# private_paths sets the private server's paths; it creates <data dir>/mysql.
private_paths() {
	local dir=${DATA_DIR:-${TRIALOG_DATA_DIR:-.data}}/mysql
	mkdir -p "$dir"
	base=$(cd "$dir" && pwd -P)
	datadir=$base/data
	pidfile=$base/mysqld.pid
	logfile=$base/mysqld.log
	sock=$base/mysqld.sock
	# A Unix socket path must fit in sun_path (108 bytes); fall back to a short one in /tmp.
	if [ "${#sock}" -gt 100 ]; then
		sock=/tmp/trialog-mysql-$(printf '%s' "$base" | cksum | cut -d' ' -f1).sock
	fi
}

private_answers() {
	[ -n "$admin" ] && [ -S "$sock" ] &&
		"$admin" --no-defaults --socket="$sock" -uroot --connect-timeout=2 ping >/dev/null 2>&1
}

if [ "${1:-}" = stop ]; then
	private_paths
	if private_answers; then
		"$admin" --no-defaults --socket="$sock" -uroot shutdown
		log "stopped the private MariaDB in $base"
	else
		log "no private MariaDB answers on $sock"
	fi
	exit 0
elif [ $# -gt 0 ]; then
	die "usage: $0 [stop]"
fi

# 1. An explicit DSN.
if [ -n "${TRIALOG_MYSQL_DSN:-}" ]; then
	printf '%s\n' "$TRIALOG_MYSQL_DSN"
	exit 0
fi

# 2. A server on 127.0.0.1:3306 that lets root in without a password.
if [ "${TRIALOG_SKIP_LOCAL_MYSQL:-0}" != 1 ]; then
	if [ -n "$client" ]; then
		if "$client" --no-defaults -h127.0.0.1 -P3306 -uroot --connect-timeout=2 -e 'select 1' >/dev/null 2>&1; then
			log "using the MariaDB/MySQL server on 127.0.0.1:3306"
			printf '%s\n' 'root@tcp(127.0.0.1:3306)/trialog'
			exit 0
		fi
	elif (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then
		log "something listens on 127.0.0.1:3306 (no mariadb/mysql client here to check root's access); using it"
		printf '%s\n' 'root@tcp(127.0.0.1:3306)/trialog'
		exit 0
	fi
fi

# 3. A private server for this user, started once and reused.
private_paths
if private_answers; then
	log "using the private MariaDB on $sock"
	printf 'root@unix(%s)/trialog\n' "$sock"
	exit 0
fi

mariadbd=$(first_cmd mariadbd mysqld || true)
install_db=$(first_cmd mariadb-install-db mysql_install_db || true)
if [ -z "$mariadbd" ] || [ -z "$install_db" ] || [ -z "$admin" ]; then
	die "no MariaDB answers on 127.0.0.1:3306 and mariadbd/mariadb-install-db/mariadb-admin are not installed: install them with 'sudo apt-get install mariadb-server' (or set TRIALOG_MYSQL_DSN)."
fi

user=$(id -un)
if [ ! -d "$datadir/mysql" ]; then
	log "initialising a private MariaDB in $datadir"
	rm -rf "$datadir"
	if ! "$install_db" --no-defaults --datadir="$datadir" --user="$user" \
		--auth-root-authentication-method=normal --skip-test-db >"$base/install.log" 2>&1; then
		tail -n 20 "$base/install.log" >&2
		rm -rf "$datadir"
		die "mariadb-install-db failed; full output in $base/install.log"
	fi
fi

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
	log "private MariaDB (pid $(cat "$pidfile")) is running but not answering yet; waiting"
else
	log "starting a private MariaDB (socket $sock, log $logfile)"
	rm -f "$sock" "$pidfile"
	touch "$logfile"
	log_start=$(($(wc -c <"$logfile") + 1))
	# Fully detached: its stdout must not keep a caller's $(...) open, and Ctrl-C on the
	# caller's terminal must not reach it.
	setsid "$mariadbd" --no-defaults --datadir="$datadir" --socket="$sock" --skip-networking \
		--pid-file="$pidfile" --log-error="$logfile" --user="$user" \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
		</dev/null >>"$logfile" 2>&1 &
fi

for _ in $(seq 1 30); do
	if private_answers; then
		log "private MariaDB is up; stop it with: $0 stop"
		printf 'root@unix(%s)/trialog\n' "$sock"
		exit 0
	fi
	if [ -n "${log_start:-}" ] && tail -c "+$log_start" "$logfile" | grep -q 'Aborting'; then
		break # it gave up; the log says why
	fi
	sleep 1
done
tail -n 20 "$logfile" >&2 || true
die "the private MariaDB did not answer on $sock within 30 s; see $logfile"
