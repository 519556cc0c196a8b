#!/usr/bin/env bash
# Real Apache Kafka for the third tier of the testing ladder (README.md, "Real Apache Kafka tier").
#
#   scripts/kafka.sh start  [--brokers N]   fetch Kafka (first run), start N KRaft nodes;
#                                           with nodes of the cluster down, start those again
#   scripts/kafka.sh kill   NODE            SIGKILL node NODE (failover tests; start brings it back)
#   scripts/kafka.sh stop                   stop them (TERM, then KILL) and wipe their data
#   scripts/kafka.sh status                 say what runs
#
# `start` prints KAFKA_BROKERS=127.0.0.1:9092[,...] on stdout and nothing else there,
# so `eval "$(scripts/kafka.sh start)"` sets it; progress and errors go to stderr.
# N is 1 (default) or 3 (failover tests); each node is a broker and a controller
# (combined mode) on 127.0.0.1. Kafka 4.x comes from Maven Central through mvn and the
# small pom in scripts/kafka/; the jars are cached and reused by later runs.
#
# Environment:
#   KAFKA_HOME_DIR         state and cache dir (default: <repo>/.kafka): jars in dist/,
#                          logs in logs/, PIDs in node-N.pid, data in data/
#   KAFKA_PORT             first broker port (default 9092); node i listens on KAFKA_PORT+i-1;
#                          "auto": the first free of 19092, 19192, ... (CI uses this)
#   KAFKA_CONTROLLER_PORT  first controller port (default KAFKA_PORT+100)
#   KAFKA_HEAP_OPTS        broker heap (default "-Xms128m -Xmx512m")
#   KAFKA_JVM_OPTS         extra JVM options for the brokers
#   KAFKA_START_TIMEOUT    seconds to wait for the cluster to answer (default 180)
#   KAFKA_STOP_TIMEOUT     seconds between TERM and KILL on stop (default 30)
#   KAFKA_MVN_TIMEOUT      seconds allowed for the mvn download (default 900)
#   KAFKA_MVN_OPTS         extra mvn arguments (e.g. -Dmaven.repo.local=...)
set -euo pipefail

STARTED_PIDS=()

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TPL="$ROOT/scripts/kafka"
HOME_DIR="${KAFKA_HOME_DIR:-$ROOT/.kafka}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-180}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
MVN_TIMEOUT="${KAFKA_MVN_TIMEOUT:-900}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
# Kafka's own defaults (bin/kafka-run-class.sh) for the broker JVM.
BROKER_JVM_OPTS="-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true ${KAFKA_JVM_OPTS:-}"
# Short-lived tools: start fast, stay small.
TOOL_JVM_OPTS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true -Dlog4j2.configurationFile=$TPL/tools-log4j2.properties"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	cat >&2 <<'EOF'
usage: scripts/kafka.sh start [--brokers N] | kill NODE | stop | status
  start   fetch Apache Kafka if needed, start N (1 or 3) KRaft nodes on 127.0.0.1 and
          print KAFKA_BROKERS=... (use: eval "$(scripts/kafka.sh start)"); when some nodes
          of the running N-node cluster are down, start them again, with their data
  kill    SIGKILL node NODE (1..N), as a crash would: for failover tests
  stop    stop the nodes (TERM, then KILL) and remove their data
  status  say what runs; prints KAFKA_BROKERS=... and exits 0 when the cluster runs
EOF
	exit 2
}

# --- the Kafka distribution (jars) --------------------------------------------------------

kafka_version() {
	sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$TPL/pom.xml" | head -n1
}

# The cache is keyed by the Kafka version and the pom's content, so editing the pom
# (another version, another log4j) fetches again; old dirs can be deleted by hand.
dist_dir() {
	local sum
	sum="$(sha256sum "$TPL/pom.xml" | cut -c1-12)"
	echo "$HOME_DIR/dist/kafka_2.13-$(kafka_version)-$sum"
}

need_java() {
	command -v java >/dev/null 2>&1 || die "java not found on PATH: Kafka needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless)"
}

fetch() {
	local dist libs tmp
	dist="$(dist_dir)"
	libs="$dist/libs"
	if [[ -f "$libs/.complete" ]]; then
		return 0
	fi
	command -v mvn >/dev/null 2>&1 || die "mvn not found on PATH: it fetches Apache Kafka from Maven Central (Debian: apt-get install maven)"
	log "fetching Apache Kafka $(kafka_version) and its dependencies with mvn into $libs"
	tmp="$dist/libs.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	local t0=$SECONDS
	# shellcheck disable=SC2086 # KAFKA_MVN_OPTS is a list of words
	if ! timeout "$MVN_TIMEOUT" mvn -B -q -ntp -Dstyle.color=never -f "$TPL/pom.xml" \
		-Dmaven.wagon.http.retryHandler.count=3 ${KAFKA_MVN_OPTS:-} \
		dependency:copy-dependencies -DoutputDirectory="$tmp" </dev/null 2>&1 |
		sed 's/\x1b\[[0-9;]*m//g' >&2; then
		rm -rf "$tmp"
		die "mvn could not fetch Apache Kafka (status above; timeout ${MVN_TIMEOUT}s)"
	fi
	ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "mvn finished but no kafka_2.13 jar in $tmp"
	rm -rf "$libs"
	mv "$tmp" "$libs"
	kafka_version >"$libs/.complete"
	log "fetched $(find "$libs" -name '*.jar' | wc -l) jars ($(du -sh "$libs" | cut -f1)) in $((SECONDS - t0))s"
}

# --- nodes ---------------------------------------------------------------------------------

STATE_FILE="$HOME_DIR/cluster.env"

pid_file() { echo "$HOME_DIR/node-$1.pid"; }
log_file() { echo "$HOME_DIR/logs/node-$1.log"; }
conf_file() { echo "$HOME_DIR/config/node-$1.properties"; }
broker_port() { echo $((KAFKA_PORT + $1 - 1)); }
controller_port() { echo $((KAFKA_CONTROLLER_PORT + $1 - 1)); }

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
	[[ -n "$st" && "$st" != Z ]]
}

# node_pid I: the PID of node I when it runs (a java kafka.Kafka with our config), else "".
node_pid() {
	local f pid
	f="$(pid_file "$1")"
	[[ -f "$f" ]] || return 0
	pid="$(cat "$f" 2>/dev/null || true)"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 0
	if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $(conf_file "$1")"; then
		echo "$pid"
	fi
}

# The nodes that have a PID file (whether or not they still run), in order.
known_nodes() {
	local f
	for f in "$HOME_DIR"/node-*.pid; do
		[[ -e "$f" ]] || continue
		f="${f##*/node-}"
		echo "${f%.pid}"
	done | sort -n
}

brokers_list() {
	local n=$1 i out=""
	for ((i = 1; i <= n; i++)); do
		out+="${out:+,}127.0.0.1:$(broker_port "$i")"
	done
	echo "$out"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The ports of the running cluster, saved by start: status and a repeated start use them
# whatever KAFKA_PORT says now.
load_state() {
	if [[ -f "$STATE_FILE" ]]; then
		KAFKA_PORT="$(sed -n 's/^port=//p' "$STATE_FILE")"
		KAFKA_CONTROLLER_PORT="$(sed -n 's/^controller_port=//p' "$STATE_FILE")"
	fi
}

# ports_free N: all broker and controller ports of N nodes are free.
ports_free() {
	local i p
	for ((i = 1; i <= $1; i++)); do
		for p in "$(broker_port "$i")" "$(controller_port "$i")"; do
			port_open "$p" && return 1
		done
	done
	return 0
}

# resolve_ports N: settle KAFKA_PORT ("auto": scan) and KAFKA_CONTROLLER_PORT, check them free.
resolve_ports() {
	local n=$1 base
	if [[ "$KAFKA_PORT" == auto ]]; then
		for ((base = 19092; base < 29092; base += 200)); do
			KAFKA_PORT=$base
			KAFKA_CONTROLLER_PORT=$((base + 100))
			ports_free "$n" && return 0
		done
		die "KAFKA_PORT=auto: no free ports between 19092 and 29092"
	fi
	[[ "$KAFKA_PORT" =~ ^[0-9]+$ ]] || die "KAFKA_PORT must be a port number or auto (got '$KAFKA_PORT')"
	KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 100))}"
	local i p
	for ((i = 1; i <= n; i++)); do
		for p in "$(broker_port "$i")" "$(controller_port "$i")"; do
			if port_open "$p"; then
				die "port 127.0.0.1:$p is already in use by another program; pick other ports with KAFKA_PORT=... (or KAFKA_PORT=auto)"
			fi
		done
	done
}

random_cluster_id() {
	# A Kafka Uuid: 16 random bytes, base64url without padding, not starting with '-'.
	local id
	while :; do
		id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
		[[ "$id" != -* ]] && break
	done
	echo "$id"
}

show_log_tails() {
	local i f
	for i in $(known_nodes); do
		f="$(log_file "$i")"
		[[ -f "$f" ]] || continue
		log "---- last 60 lines of $f ----"
		tail -n 60 "$f" >&2 || true
	done
}

# How many brokers the cluster's metadata lists, asked through the Kafka API
# (ApiVersions + Metadata via BrokerApiVersionsCommand). Prints 0 on any failure.
brokers_in_metadata() {
	local libs=$1 n=$2 out
	# shellcheck disable=SC2086
	out="$(timeout 60 java $TOOL_JVM_OPTS -cp "$libs/*" org.apache.kafka.tools.BrokerApiVersionsCommand \
		--bootstrap-server "$(brokers_list "$n")" 2>/dev/null </dev/null || true)"
	grep -c '^127\.0\.0\.1:[0-9]* (id: ' <<<"$out" || true
}

cmd_start() {
	local n=$1 running="" i
	need_java
	mkdir -p "$HOME_DIR"
	# One start/stop at a time per state dir; the brokers must not inherit the lock.
	exec 9>"$HOME_DIR/.lock"
	flock -w 600 9 || die "another scripts/kafka.sh holds $HOME_DIR/.lock"

	for i in $(known_nodes); do
		[[ -n "$(node_pid "$i")" ]] && running+=" $i"
	done
	if [[ -n "$running" ]]; then
		local m
		load_state
		m="$(known_nodes | wc -l)"
		if [[ "$m" -eq "$n" && "$(echo "$running" | wc -w)" -eq "$n" ]]; then
			log "already running: $n node(s) (stop with scripts/kafka.sh stop)"
			echo "KAFKA_BROKERS=$(brokers_list "$n")"
			return 0
		fi
		if [[ "$m" -eq "$n" ]]; then
			restart_nodes "$n"
			return 0
		fi
		die "a cluster of $m node(s) is already (partly) running here (nodes:$running); run scripts/kafka.sh stop first"
	fi
	# Stale state from a crash: clear it.
	cleanup_state

	resolve_ports "$n"
	fetch
	local libs rf min_isr voters="" cluster_id t0=$SECONDS
	libs="$(dist_dir)/libs"
	rf=$((n < 3 ? n : 3))
	min_isr=$((rf < 2 ? rf : 2))
	for ((i = 1; i <= n; i++)); do
		voters+="${voters:+,}$i@127.0.0.1:$(controller_port "$i")"
	done
	cluster_id="$(random_cluster_id)"
	mkdir -p "$HOME_DIR/logs" "$HOME_DIR/config" "$HOME_DIR/data"
	printf 'port=%s\ncontroller_port=%s\nbrokers=%s\n' "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$n" >"$STATE_FILE"

	log "starting Apache Kafka $(kafka_version): $n node(s), brokers $(brokers_list "$n"), controllers from port $KAFKA_CONTROLLER_PORT"
	local fmt_pids=()
	for ((i = 1; i <= n; i++)); do
		sed -e "s|@NODE_ID@|$i|g" -e "s|@VOTERS@|$voters|g" \
			-e "s|@BROKER_PORT@|$(broker_port "$i")|g" -e "s|@CONTROLLER_PORT@|$(controller_port "$i")|g" \
			-e "s|@DATA_DIR@|$HOME_DIR/data/node-$i|g" -e "s|@RF@|$rf|g" -e "s|@MIN_ISR@|$min_isr|g" \
			"$TPL/server.properties.in" >"$(conf_file "$i")"
		# Format the KRaft storage (static quorum: controller.quorum.voters), all nodes at once.
		# shellcheck disable=SC2086
		java $TOOL_JVM_OPTS -cp "$libs/*" kafka.tools.StorageTool format \
			--cluster-id "$cluster_id" --config "$(conf_file "$i")" \
			>"$HOME_DIR/logs/format-node-$i.log" 2>&1 </dev/null 9>&- &
		fmt_pids+=($!)
	done
	for ((i = 1; i <= n; i++)); do
		if ! wait "${fmt_pids[$((i - 1))]}"; then
			cat "$HOME_DIR/logs/format-node-$i.log" >&2
			die "formatting the storage of node $i failed (output above)"
		fi
	done

	for ((i = 1; i <= n; i++)); do
		: >"$(log_file "$i")"
		launch_node "$i" "$libs"
	done
	wait_ready "$n" "$libs"
	log "ready in $((SECONDS - t0))s: $n broker(s) in the cluster metadata; logs in $HOME_DIR/logs"
	echo "KAFKA_BROKERS=$(brokers_list "$n")"
}

# launch_node I LIBS: start node I in the background (its config and data in place).
launch_node() {
	local i=$1 libs=$2
	# setsid: the node outlives this script and the caller's terminal signals;
	# the subshell execs, so $! is the JVM's PID.
	# shellcheck disable=SC2086
	(
		cd "$HOME_DIR"
		exec setsid java $HEAP_OPTS $BROKER_JVM_OPTS \
			-Dlog4j2.configurationFile="$TPL/log4j2.properties" -Dkafka.logs.dir="$HOME_DIR/logs" \
			-cp "$libs/*" kafka.Kafka "$(conf_file "$i")"
	) </dev/null >>"$(log_file "$i")" 2>&1 9>&- &
	STARTED_PIDS+=("$!")
	echo $! >"$(pid_file "$i")"
}

# wait_ready N LIBS: wait until the nodes this run started are alive, all N ports are
# open and all N brokers are in the cluster metadata (abort_start past START_TIMEOUT).
wait_ready() {
	local n=$1 libs=$2 i pid deadline=$((SECONDS + START_TIMEOUT)) seen=0
	while :; do
		# (our own children by PID: until the subshell has exec'd java, node_pid would
		# not recognise them yet.)
		for pid in "${STARTED_PIDS[@]}"; do
			if ! pid_alive "$pid"; then
				abort_start "a node (pid $pid) exited while starting"
			fi
		done
		if ((SECONDS >= deadline)); then
			abort_start "Kafka did not answer within ${START_TIMEOUT}s (saw $seen of $n brokers in the metadata)"
		fi
		local open=0
		for ((i = 1; i <= n; i++)); do
			port_open "$(broker_port "$i")" && open=$((open + 1))
		done
		if ((open == n)); then
			seen="$(brokers_in_metadata "$libs" "$n")"
			((seen == n)) && break
		fi
		sleep 1
	done
}

# restart_nodes N: start again, with their data, the nodes of the running N-node cluster
# that are down (killed by cmd_kill, or crashed); on failure the others keep running.
restart_nodes() {
	local n=$1 i libs t0=$SECONDS down=""
	RESTARTING=1
	libs="$(dist_dir)/libs"
	for ((i = 1; i <= n; i++)); do
		if [[ -z "$(node_pid "$i")" ]]; then
			down+=" $i"
			launch_node "$i" "$libs"
		fi
	done
	log "starting node(s)$down again"
	wait_ready "$n" "$libs"
	log "ready in $((SECONDS - t0))s: $n broker(s) in the cluster metadata"
	echo "KAFKA_BROKERS=$(brokers_list "$n")"
}

# cmd_kill I: SIGKILL node I, as a crash would, and wait until it is gone.
cmd_kill() {
	local i=$1 pid
	[[ "$i" =~ ^[0-9]+$ ]] || usage
	mkdir -p "$HOME_DIR"
	exec 9>"$HOME_DIR/.lock"
	flock -w 600 9 || die "another scripts/kafka.sh holds $HOME_DIR/.lock"
	pid="$(node_pid "$i")"
	[[ -n "$pid" ]] || die "node $i is not running"
	kill -KILL "$pid"
	while pid_alive "$pid"; do
		sleep 0.1
	done
	log "node $i (pid $pid): KILLed; scripts/kafka.sh start --brokers N starts it again"
}

# abort_start MSG: show the logs, stop what this run started, clear its state (unless it
# started nodes of a running cluster again), fail.
abort_start() {
	show_log_tails
	STOP_TIMEOUT=5 stop_pids "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}" 2>/dev/null || true
	[[ -n "${RESTARTING:-}" ]] || cleanup_state
	die "$1 (log tail above; full logs in $HOME_DIR/logs)"
}

# stop_nodes: stop every known node that runs.
stop_nodes() {
	local i pid pids=()
	for i in $(known_nodes); do
		pid="$(node_pid "$i")"
		if [[ -n "$pid" ]]; then
			pids+=("$pid")
			log "node $i (pid $pid): TERM"
		fi
	done
	stop_pids "${pids[@]+"${pids[@]}"}"
}

# stop_pids PID...: TERM them, wait up to STOP_TIMEOUT, then KILL the rest.
stop_pids() {
	local pid pids=("$@") deadline
	for pid in "${pids[@]+"${pids[@]}"}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	deadline=$((SECONDS + STOP_TIMEOUT))
	while ((${#pids[@]} > 0)); do
		local alive=()
		for pid in "${pids[@]}"; do
			pid_alive "$pid" && alive+=("$pid")
		done
		pids=("${alive[@]+"${alive[@]}"}")
		((${#pids[@]} == 0)) && break
		if ((SECONDS >= deadline)); then
			for pid in "${pids[@]}"; do
				log "pid $pid still running after ${STOP_TIMEOUT}s: KILL"
				kill -KILL "$pid" 2>/dev/null || true
			done
			sleep 0.5
			break
		fi
		sleep 0.5
	done
}

cleanup_state() {
	rm -f "$HOME_DIR"/node-*.pid "$STATE_FILE"
	rm -rf "$HOME_DIR/data" "$HOME_DIR/config"
}

cmd_stop() {
	mkdir -p "$HOME_DIR"
	exec 9>"$HOME_DIR/.lock"
	flock -w 600 9 || die "another scripts/kafka.sh holds $HOME_DIR/.lock"
	if [[ -z "$(known_nodes)" ]]; then
		log "not running"
		cleanup_state
		return 0
	fi
	stop_nodes
	cleanup_state
	log "stopped; data removed (logs kept in $HOME_DIR/logs)"
}

cmd_status() {
	local nodes n running=0 i pid
	nodes="$(known_nodes)"
	if [[ -z "$nodes" ]]; then
		log "not running"
		return 3
	fi
	n="$(wc -l <<<"$nodes")"
	load_state
	for i in $nodes; do
		pid="$(node_pid "$i")"
		if [[ -n "$pid" ]]; then
			running=$((running + 1))
			log "node $i: running, pid $pid, broker 127.0.0.1:$(broker_port "$i"), controller 127.0.0.1:$(controller_port "$i"), log $(log_file "$i")"
		else
			log "node $i: NOT running (stale pid file; see $(log_file "$i"))"
		fi
	done
	if ((running == n)); then
		log "Apache Kafka $(kafka_version): $n node(s) running"
		echo "KAFKA_BROKERS=$(brokers_list "$n")"
		return 0
	fi
	log "$running of $n node(s) running: scripts/kafka.sh start --brokers $n starts the others again"
	return 1
}

main() {
	[[ $# -ge 1 ]] || usage
	local cmd=$1 n=1 node=""
	shift
	if [[ "$cmd" == kill ]]; then
		[[ $# -eq 1 ]] || usage
		node=$1
		shift
	fi
	while [[ $# -gt 0 ]]; do
		case "$1" in
		--brokers) [[ $# -ge 2 ]] || usage; n=$2; shift 2 ;;
		--brokers=*) n=${1#--brokers=}; shift ;;
		-h | --help) usage ;;
		*) log "unknown argument: $1"; usage ;;
		esac
	done
	[[ "$n" == 1 || "$n" == 3 ]] || die "--brokers must be 1 or 3 (got '$n')"
	case "$cmd" in
	start) cmd_start "$n" ;;
	kill) cmd_kill "$node" ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	*) usage ;;
	esac
}

main "$@"
