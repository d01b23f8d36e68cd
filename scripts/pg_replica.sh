#!/usr/bin/env bash
# A streaming replica of the local PostgreSQL 15 primary, for the read-only heavy work (DATABASE_REPLICA_URL)
# in the benchmarks and the tests: a second cluster made with pg_basebackup, fed through a physical
# replication slot, a hot standby on another port of this machine.
#
#   scripts/pg_replica.sh start    make it (first time) and start it; running already: nothing to do
#   scripts/pg_replica.sh stop     stop it (the slot stays: the primary keeps the WAL it has not received)
#   scripts/pg_replica.sh status   running? in recovery? how far behind (bytes and seconds)?
#   scripts/pg_replica.sh drop     stop it, remove its data directory and the primary's slot
#
# Settings (environment): PRIMARY_HOST (127.0.0.1), PRIMARY_PORT (5432), PRIMARY_USER (postgres),
# REPLICA_PORT (5433), REPLICA_DIR (/var/tmp/assetreg-replica-$REPLICA_PORT),
# REPLICA_SLOT (assetreg_replica_$REPLICA_PORT), PG_BIN (/usr/lib/postgresql/15/bin).
# The primary must trust its user for replication from 127.0.0.1 (this script adds the pg_hba.conf line
# when it is missing and reloads) and have wal_level replica or logical and max_wal_senders > 0 (checked:
# changing them needs a restart of the primary, which this script never does).
set -euo pipefail

PRIMARY_HOST=${PRIMARY_HOST:-127.0.0.1}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
PRIMARY_USER=${PRIMARY_USER:-postgres}
REPLICA_PORT=${REPLICA_PORT:-5433}
REPLICA_DIR=${REPLICA_DIR:-/var/tmp/assetreg-replica-$REPLICA_PORT}
REPLICA_SLOT=${REPLICA_SLOT:-assetreg_replica_$REPLICA_PORT}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
LOG_FILE="$REPLICA_DIR.log"
WAIT_SECONDS=${REPLICA_WAIT_SECONDS:-120}

die() { echo "pg_replica: $*" >&2; exit 1; }
say() { echo "pg_replica: $*"; }

# Run as the postgres OS user when we are root (a cluster's files belong to it; pg_ctl refuses root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

primary_sql() {
  psql -X -q -At -v ON_ERROR_STOP=1 -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" -d postgres -c "$1"
}

replica_sql() {
  psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$REPLICA_PORT" -U "$PRIMARY_USER" -d postgres -c "$1"
}

is_running() {
  [ -f "$REPLICA_DIR/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$REPLICA_DIR" status >/dev/null 2>&1
}

check_primary() {
  pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" || die "the primary at $PRIMARY_HOST:$PRIMARY_PORT does not answer"
  local wal_level senders slots
  wal_level=$(primary_sql "SHOW wal_level")
  senders=$(primary_sql "SHOW max_wal_senders")
  slots=$(primary_sql "SHOW max_replication_slots")
  case "$wal_level" in
    replica|logical) ;;
    *) die "the primary's wal_level is $wal_level: set wal_level = replica and restart it" ;;
  esac
  [ "$senders" -gt 0 ] || die "the primary's max_wal_senders is 0: set it (e.g. 10) and restart it"
  [ "$slots" -gt 0 ] || die "the primary's max_replication_slots is 0: set it (e.g. 10) and restart it"
}

ensure_hba() {
  # Only on this machine's own cluster: a remote primary's pg_hba.conf is its administrator's business.
  local hba line="host replication $PRIMARY_USER 127.0.0.1/32 trust"
  hba=$(primary_sql "SHOW hba_file")
  [ -r "$hba" ] || die "cannot read the primary's $hba: add '$line' there and reload it"
  if ! grep -Eq "^[[:space:]]*host[[:space:]]+replication[[:space:]]+($PRIMARY_USER|all)[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust" "$hba"; then
    say "adding '$line' to $hba and reloading the primary"
    printf '# assetreg streaming replica (scripts/pg_replica.sh)\n%s\n' "$line" >> "$hba"
    primary_sql "SELECT pg_reload_conf()" >/dev/null
    # The reload is asynchronous: wait until the rule is in force.
    for _ in $(seq 1 50); do
      [ "$(primary_sql "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database) AND error IS NULL")" -gt 0 ] && break
      sleep 0.1
    done
  fi
}

make_cluster() {
  say "pg_basebackup of $PRIMARY_HOST:$PRIMARY_PORT into $REPLICA_DIR (slot $REPLICA_SLOT)"
  mkdir -p "$(dirname "$REPLICA_DIR")"
  local slot_exists
  slot_exists=$(primary_sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$REPLICA_SLOT'")
  local create=(-C -S "$REPLICA_SLOT")
  if [ "$slot_exists" != 0 ]; then
    # A slot left by an earlier cluster whose directory is gone: reuse it (-C would fail on it).
    say "slot $REPLICA_SLOT exists already: reusing it"
    create=(-S "$REPLICA_SLOT")
  fi
  local started=$SECONDS
  if ! as_pg "$PG_BIN/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" -D "$REPLICA_DIR" \
      -R -X stream "${create[@]}" -c fast --no-password; then
    as_pg rm -rf "$REPLICA_DIR"
    die "pg_basebackup failed (see above); nothing left behind but the slot (drop removes it)"
  fi
  say "basebackup took $((SECONDS - started)) s ($(du -sh "$REPLICA_DIR" | cut -f1))"
  # Debian keeps a cluster's configuration in /etc: the copy has none of its own. The standby's settings
  # (pg_basebackup -R wrote primary_conninfo and primary_slot_name into postgresql.auto.conf, and
  # standby.signal): its own port and socket, hot standby; hot_standby_feedback keeps the primary's vacuum
  # from removing rows a long replica read (an export) still needs; a conflicting replay waits up to
  # 5 minutes for such a read before cancelling it (the app skips a replica that far behind meanwhile).
  as_pg tee "$REPLICA_DIR/postgresql.conf" >/dev/null <<EOF
# assetreg streaming replica, written by scripts/pg_replica.sh
port = $REPLICA_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$REPLICA_DIR'
max_connections = 100
shared_buffers = 128MB
hot_standby = on
hot_standby_feedback = on
max_standby_streaming_delay = 300s
max_standby_archive_delay = 300s
wal_receiver_status_interval = 1s
logging_collector = off
log_line_prefix = '%m [%p] replica %q%u@%d '
timezone = 'Etc/UTC'
log_timezone = 'Etc/UTC'
datestyle = 'iso, mdy'
lc_messages = 'C.UTF-8'
lc_monetary = 'C.UTF-8'
lc_numeric = 'C.UTF-8'
lc_time = 'C.UTF-8'
default_text_search_config = 'pg_catalog.english'
EOF
  as_pg tee "$REPLICA_DIR/pg_hba.conf" >/dev/null <<EOF
# assetreg streaming replica: the same trust on loopback as the primary of this test machine
local all all trust
host all all 127.0.0.1/32 trust
EOF
  as_pg touch "$REPLICA_DIR/pg_ident.conf"
}

wait_ready() {
  local deadline=$((SECONDS + WAIT_SECONDS))
  until pg_isready -q -h 127.0.0.1 -p "$REPLICA_PORT"; do
    [ $SECONDS -lt $deadline ] || die "the replica does not accept connections after ${WAIT_SECONDS}s (log: $LOG_FILE)"
    sleep 0.2
  done
  local rec
  rec=$(replica_sql "SELECT pg_is_in_recovery()")
  [ "$rec" = t ] || die "the cluster on port $REPLICA_PORT is not in recovery: it is not a replica"
}

status() {
  if ! is_running; then
    say "not running (data directory: $([ -d "$REPLICA_DIR" ] && echo "$REPLICA_DIR" || echo none))"
    return 3
  fi
  say "running on 127.0.0.1:$REPLICA_PORT, data in $REPLICA_DIR"
  replica_sql "SELECT 'in recovery: ' || pg_is_in_recovery()
                || ', receiver: ' || coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')
                || ', replay lag: ' || CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN '0'
                     ELSE coalesce(round(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::numeric, 3)::text, '?') END || ' s'"
  primary_sql "SELECT 'slot ' || slot_name || ': active ' || active || ', primary ahead by '
                || pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn))
                FROM pg_replication_slots WHERE slot_name = '$REPLICA_SLOT'"
}

start() {
  if is_running; then
    wait_ready
    say "already running on 127.0.0.1:$REPLICA_PORT"
    return 0
  fi
  check_primary
  ensure_hba
  if [ ! -f "$REPLICA_DIR/PG_VERSION" ]; then
    [ ! -e "$REPLICA_DIR" ] || as_pg rm -rf "$REPLICA_DIR"  # a half-made directory from a failed start
    make_cluster
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$REPLICA_DIR" -l "$LOG_FILE" -w -t "$WAIT_SECONDS" start >/dev/null \
    || die "pg_ctl start failed (log: $LOG_FILE)"
  wait_ready
  say "started on 127.0.0.1:$REPLICA_PORT (DATABASE_REPLICA_URL=postgresql+psycopg://$PRIMARY_USER@127.0.0.1:$REPLICA_PORT/<database>)"
}

stop() {
  if is_running; then
    as_pg "$PG_BIN/pg_ctl" -D "$REPLICA_DIR" -m fast -w stop >/dev/null
    say "stopped (slot $REPLICA_SLOT kept: the primary keeps WAL for it until 'drop')"
  else
    say "not running"
  fi
}

drop() {
  stop
  if [ -e "$REPLICA_DIR" ]; then
    as_pg rm -rf "$REPLICA_DIR"
    say "removed $REPLICA_DIR"
  fi
  rm -f "$LOG_FILE"
  if pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT"; then
    if [ "$(primary_sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$REPLICA_SLOT'")" != 0 ]; then
      primary_sql "SELECT pg_drop_replication_slot('$REPLICA_SLOT')" >/dev/null
      say "dropped slot $REPLICA_SLOT on the primary"
    fi
  else
    say "the primary does not answer: its slot $REPLICA_SLOT (if any) is left; run drop again when it is up"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  drop) drop ;;
  *) echo "usage: $0 start|stop|status|drop" >&2; exit 2 ;;
esac
