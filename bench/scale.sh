#!/usr/bin/env bash
# bench/scale.sh: does gatehouse hold up on a big store? One command:
#
#   bench/scale.sh
#
# It builds gatehouse and bench/seed, then, on each database (SQLite and a
# tarball folder, gatehouse's embedded default; then PostgreSQL and a
# tarball folder), for a small store and a big one (by default 200 packages
# and 60,000 tokens, then 100,000 packages and 1,000,000 tokens) seeds the
# store straight into the database (seed scale), starts a gatehouse on each
# and times its start-up (process start until /-/ready answers), drives the
# same wrk load at both, one scenario at a time and the two stores back to
# back (bench/scale.lua: every request authenticated, tokens and package
# names drawn from long lists), and records requests/s, latency,
# gatehouse's peak memory and CPU time, wrk's CPU time, and the database's
# sizes. The package names are drawn uniformly (every package as likely)
# and, in the zipf-* scenarios, by popularity: a Zipf law with exponent
# BENCH_ZIPF_S over a popularity order shuffled with a fixed seed
# (BENCH_ZIPF_SEED), the small store under it too. It prints a table per
# database with the big/small ratios and writes them into docs/benchmarks.md
# between the bench/scale.sh markers. gatehouse listens on 127.0.0.1 only
# and is stopped at the end. Sizes and the rest come from the environment,
# for example:
#
#   BENCH_BIG_PACKAGES=20000 BENCH_BIG_TOKENS=200000 BENCH_DURATION=5 BENCH_DOCS=none bench/scale.sh
#
# PostgreSQL: BENCH_STORES="sqlite postgres" (the default when a server
# answers) runs on the server BENCH_POSTGRES names, else the one of
# GATEHOUSE_TEST_POSTGRES: the URL of a role that may create databases. Each
# store gets a database of its own, created and dropped by this script.
# With no server, the default is SQLite alone, with a note; a PostgreSQL
# run asked for (BENCH_STORES naming postgres, or the default under
# CI=true) fails instead.
#
# Seeded-store cache: BENCH_STORE_CACHE=DIR keeps each store seeded (its
# data folder; for PostgreSQL the tarball folder here and a database
# gatehouse_scale_cache_* on the server) under a key of every seeding
# parameter, the seed's own format version and the store's migration
# files, and later runs with the same key copy it instead of seeding (a
# check that the copy holds what the key says comes first). DIR holds
# plaintext tokens of throwaway stores: keep it out of the repository.
#
# The small store holds 60,000 tokens, not fewer, because the cold-token
# scenario needs BENCH_COLD tokens beyond the BENCH_SAMPLE warm ones.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

small_packages=${BENCH_SMALL_PACKAGES:-200}
small_tokens=${BENCH_SMALL_TOKENS:-60000}
small_users=${BENCH_SMALL_USERS:-100}
big_packages=${BENCH_BIG_PACKAGES:-100000}
big_tokens=${BENCH_BIG_TOKENS:-1000000}
big_users=${BENCH_BIG_USERS:-10000}
versions=${BENCH_VERSIONS:-3}
readme_bytes=${BENCH_README_BYTES:-512}
# Plaintext tokens the load draws from: warm (the token cache holds them
# after the warm-up) and cold (each used by one request only).
sample=${BENCH_SAMPLE:-10000}
cold=${BENCH_COLD:-40000}
# Load: wrk with keep-alive, 2 threads and 32 connections, as bench/run.sh.
threads=2
connections=32
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-3}
gatehouse_log_level=${BENCH_GATEHOUSE_LOG_LEVEL:-error}
# Which stores to measure, in order.
sizes=${BENCH_SIZES:-small big}
# Which databases to run on, in order (default: sqlite, and postgres when a
# server answers).
stores=${BENCH_STORES:-}
pg_admin=${BENCH_POSTGRES:-${GATEHOUSE_TEST_POSTGRES:-}}
# The skewed load: the k-th most popular package is drawn in proportion to
# 1/k^s (s = 1.0, a common fit for package popularity); the popularity
# order is a permutation of the packages fixed by BENCH_ZIPF_SEED.
zipf_s=${BENCH_ZIPF_S:-1.0}
zipf_seed=${BENCH_ZIPF_SEED:-1}
store_cache=${BENCH_STORE_CACHE:-}
# Names are drawn from every package of each store, or, with BENCH_SPREAD=N,
# from its first N packages only: BENCH_SPREAD=$BENCH_SMALL_PACKAGES gives
# both stores the same working set.
spread=${BENCH_SPREAD:-0}
# The Accept-Encoding every request sends: npm's "gzip,deflate" (pnpm, yarn
# and bun send gzip too, so packuments go out gzipped, as they do to real
# installs); BENCH_ENCODING= (empty) sends none, and documents go out as JSON.
encoding=${BENCH_ENCODING-gzip,deflate}
docs=${BENCH_DOCS:-$root/docs/benchmarks.md}
keep=${BENCH_KEEP:-0}
# 1 records Go CPU and heap profiles of gatehouse during each measured run
# (its --pprof endpoint on a metrics address of its own), into the kept
# folder's pprof/, with a `go tool pprof -top` listing beside each.
pprof=${BENCH_PPROF:-0}

scenarios=(abbreviated full tarball zipf-abbreviated zipf-full zipf-tarball notfound cold)

log() { printf '\n== %s\n' "$*" >&2; }
die() {
	printf 'bench/scale.sh: %s\n' "$*" >&2
	exit 1
}

for n in "$small_packages" "$small_tokens" "$small_users" "$big_packages" "$big_tokens" "$big_users" "$versions" \
	"$readme_bytes" "$sample" "$cold" "$duration" "$warmup" "$spread"; do
	[[ $n =~ ^[0-9]+$ ]] || die "sizes must be whole numbers, not '$n'"
done
((duration >= 1)) || die "BENCH_DURATION must be at least 1"
for size in $sizes; do
	[[ $size == small || $size == big ]] || die "BENCH_SIZES: want small and/or big, not '$size'"
done
[[ $zipf_s =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_ZIPF_S must be a number such as 1.0, not '$zipf_s'"
[[ $zipf_seed =~ ^[0-9]+$ ]] || die "BENCH_ZIPF_SEED must be a whole number, not '$zipf_seed'"
for store in $stores; do
	[[ $store == sqlite || $store == postgres ]] || die "BENCH_STORES: want sqlite and/or postgres, not '$store'"
done

if ! command -v wrk >/dev/null 2>&1; then
	die "wrk is missing: install it (on Debian and Ubuntu: apt-get install -y wrk)"
fi
for tool in go curl timeout; do
	command -v "$tool" >/dev/null 2>&1 || die "missing $tool"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-scale.XXXXXX")
results=$work/results
mkdir -p "$results" "$work/bin" "$work/logs"

declare -A gh_pids=()
memwatch_pid=
# PostgreSQL databases this run created, dropped at the end.
pg_dbs=()
cleanup() {
	local status=$? pid db
	if [[ -n $memwatch_pid ]]; then
		kill "$memwatch_pid" 2>/dev/null || true
	fi
	for pid in "${gh_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for db in "${pg_dbs[@]}"; do
		"$work/bin/seed" pgdb drop -admin "$pg_admin" -name "$db" ||
			printf 'bench/scale.sh: could not drop the database %s\n' "$db" >&2
	done
	if [[ $keep == 1 || $status -ne 0 ]]; then
		printf 'bench/scale.sh: kept %s (logs in logs/, raw results in results/; it holds plaintext tokens of throwaway stores)\n' "$work" >&2
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building gatehouse and bench/seed"
version=${BENCH_GATEHOUSE_VERSION:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo dev)}
(cd "$root" && go build -ldflags "-X main.version=$version" -o "$work/bin/gatehouse" ./cmd/gatehouse)
(cd "$root" && go build -o "$work/bin/seed" ./bench/seed)
seed=$work/bin/seed

# Which databases: PostgreSQL when asked for, or by default when a server
# answers.
pg_version=
if [[ -n $pg_admin ]]; then
	pg_version=$("$seed" pgdb ping -admin "$pg_admin" 2>"$work/logs/pgdb-ping.txt") || pg_version=
fi
if [[ -z $stores ]]; then
	if [[ -n $pg_version ]]; then
		stores="sqlite postgres"
	elif [[ ${CI:-} == true ]]; then
		die "no PostgreSQL answers (BENCH_POSTGRES or GATEHOUSE_TEST_POSTGRES: $(cat "$work/logs/pgdb-ping.txt" 2>/dev/null)); CI=true runs both databases (set BENCH_STORES=sqlite to run SQLite alone)"
	else
		stores=sqlite
		printf 'bench/scale.sh: note: SQLite only: no PostgreSQL answers (set BENCH_POSTGRES or GATEHOUSE_TEST_POSTGRES to a URL of a role that may create databases)\n' >&2
	fi
elif [[ " $stores " == *" postgres "* && -z $pg_version ]]; then
	die "BENCH_STORES names postgres, but no PostgreSQL answers (BENCH_POSTGRES or GATEHOUSE_TEST_POSTGRES): $(cat "$work/logs/pgdb-ping.txt" 2>/dev/null)"
fi

if [[ $pprof == 1 ]]; then
	mkdir -p "$work/pprof"
	keep=1
fi

now_ms() { date +%s%3N; }

# check SIZE BASE TOKEN PATH ACCEPT STATUS: one request answers STATUS.
check() {
	local got headers=(-H "Authorization: Bearer $3")
	if [[ -n $5 ]]; then
		headers+=(-H "Accept: $5")
	fi
	got=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "${headers[@]}" "$2$4")
	[[ $got == "$6" ]] || die "$1: GET $4 answered $got, not $6"
}

load_before=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load_before" 'BEGIN { exit !(l > 1) }'; then
	printf 'bench/scale.sh: warning: the 1-minute load average is %s; figures will be low and noisy\n' "$load_before" >&2
fi

file_bytes() { if [[ -f $1 ]]; then stat -c %s "$1"; else echo 0; fi; }
seed_cache_args=()
if [[ -n $store_cache ]]; then
	mkdir -p "$store_cache"
	chmod 700 "$store_cache"
	seed_cache_args=(-cache "$store_cache" -migrations "$root/internal/store/migrations")
fi

# run_store STORE: seeds both sizes on one database, serves each with a
# gatehouse and drives every scenario at both; its results go to
# $results/STORE.
run_store() {
	local store=$1 res=$results/$1 size packages tokens users data port base other db_name db_url
	local -a db_args seed_db_args gh_flags wrk_env
	local -A bases=() metrics_ports=() db_urls=()
	mkdir -p "$res"
	for size in $sizes; do
		case $size in
		small) packages=$small_packages tokens=$small_tokens users=$small_users ;;
		big) packages=$big_packages tokens=$big_tokens users=$big_users ;;
		esac
		data=$work/$store/$size/data
		seed_db_args=()
		if [[ $store == postgres ]]; then
			db_name=gatehouse_scale_run_$$_$size
			pg_dbs+=("$db_name")
			db_url=$("$seed" pgdb create -admin "$pg_admin" -name "$db_name")
			db_urls[$size]=$db_url
			seed_db_args=(-database "$db_url" -admin "$pg_admin")
		fi
		log "$store, $size store: seeding $packages packages × $versions versions, $users users, $tokens tokens"
		GATEHOUSE_DATABASE='' timeout 7200 "$seed" scale -data "$data" "${seed_db_args[@]}" "${seed_cache_args[@]}" \
			-prefix scale -packages "$packages" -versions "$versions" -users "$users" -tokens "$tokens" \
			-readme-bytes "$readme_bytes" -sample "$sample" -cold "$cold" \
			-out "$res/seed-$size.json" -lists "$work/$store/$size/lists"
		"$seed" zipf -lists "$work/$store/$size/lists" -s "$zipf_s" -seed "$zipf_seed"
		db_args=(-data "$data")
		if [[ $store == postgres ]]; then
			db_args+=(-database "${db_urls[$size]}")
		fi
		"$seed" dbsizes "${db_args[@]}" -out "$res/dbsizes-$size.json"
	done

	# Every store's gatehouse runs at once, idle but for the load of the
	# moment, so that each scenario measures the stores back to back: the
	# machine's load drifts less between the two figures of a row.
	for size in $sizes; do
		data=$work/$store/$size/data
		port=$("$seed" freeport)
		for other in "${bases[@]}" "${metrics_ports[@]}"; do
			[[ ${other##*:} != "$port" ]] || port=$("$seed" freeport)
		done
		base=http://127.0.0.1:$port
		bases[$size]=$base
		gh_flags=()
		if [[ $store == postgres ]]; then
			gh_flags+=(--database "${db_urls[$size]}")
		fi
		if [[ $pprof == 1 ]]; then
			metrics_port=$("$seed" freeport)
			while [[ $metrics_port == "$port" ]]; do metrics_port=$("$seed" freeport); done
			metrics_ports[$size]=$metrics_port
			gh_flags+=(--metrics-listen "127.0.0.1:$metrics_port" --pprof true)
		fi
		log "$store, $size store: starting gatehouse on $base"
		# The page cache is warm (the seeding just wrote the files): this
		# is the start-up of a restart, not of a cold boot.
		started=$(now_ms)
		GATEHOUSE_DATABASE='' GATEHOUSE_BLOBS='' "$work/bin/gatehouse" serve --listen "127.0.0.1:$port" --data "$data" \
			--log-level "$gatehouse_log_level" "${gh_flags[@]}" >"$work/logs/gatehouse-$store-$size.log" 2>&1 &
		gh_pids[$size]=$!
		ping_ms=
		until curl -fsS -o /dev/null --max-time 2 "$base/-/ready" 2>/dev/null; do
			if [[ -z $ping_ms ]] && curl -fsS -o /dev/null --max-time 2 "$base/-/ping" 2>/dev/null; then
				ping_ms=$(($(now_ms) - started))
			fi
			kill -0 "${gh_pids[$size]}" 2>/dev/null || die "gatehouse exited (see $work/logs/gatehouse-$store-$size.log)"
			(($(now_ms) - started < 120000)) || die "gatehouse was not ready within 120 s"
			sleep 0.01
		done
		ready_ms=$(($(now_ms) - started))
		ping_ms=${ping_ms:-$ready_ms}
		idle_rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/${gh_pids[$size]}/status")
		printf '  ready after %s ms (ping after %s ms), %s KiB resident\n' "$ready_ms" "$ping_ms" "$idle_rss_kb" >&2
		{
			printf 'ready_ms: %s\n' "$ready_ms"
			printf 'ping_ms: %s\n' "$ping_ms"
			printf 'idle_rss_kb: %s\n' "$idle_rss_kb"
			printf 'db_bytes: %s\n' "$(file_bytes "$data/gatehouse.db")"
			printf 'wal_bytes: %s\n' "$(file_bytes "$data/gatehouse.db-wal")"
			printf 'tarball_bytes: %s\n' "$(du -sb "$data/tarballs" | cut -f1)"
		} >"$res/server-$size.txt"

		lists=$work/$store/$size/lists
		read_token=$(head -n 1 "$lists/tokens.txt")
		hot=$("$seed" field "$res/seed-$size.json" hot_package)
		tarball_path=$("$seed" field "$res/seed-$size.json" tarball_path)
		popular=$(head -n 1 "$lists/zipf.txt" | cut -f2)
		check "$size" "$base" "$read_token" "/$hot" "application/vnd.npm.install-v1+json" 200
		check "$size" "$base" "$read_token" "/$hot" "application/json" 200
		check "$size" "$base" "$read_token" "$tarball_path" "" 200
		check "$size" "$base" "$read_token" "$popular" "application/vnd.npm.install-v1+json" 200
		check "$size" "$base" "$read_token" "$(head -n 1 "$lists/zipf.txt" | cut -f3)" "" 200
		check "$size" "$base" "$read_token" "/$hot-no-such-package" "" 404
		check "$size" "$base" "not-a-token" "/-/whoami" "" 401
	done

	# Each warm scenario has its own share of the warm tokens, sent once
	# each (seed prime) just before its warm-up: gatehouse records a
	# token's use at most once a minute, and tokens first used together
	# fall due together, so a share used across more than a minute would
	# bring a burst of those writes into a measured run.
	for size in $sizes; do
		lists=$work/$store/$size/lists
		n=$(wc -l <"$lists/tokens.txt")
		share=$((n / (${#scenarios[@]} - 1)))
		((share >= 1)) || die "BENCH_SAMPLE ($sample) is too small to share between the warm scenarios"
		i=0
		for scenario in "${scenarios[@]}"; do
			[[ $scenario != cold ]] || continue
			sed -n "$((i * share + 1)),$(((i + 1) * share))p" "$lists/tokens.txt" >"$lists/tokens-$scenario.txt"
			i=$((i + 1))
		done
	done

	store_load=$(cut -d' ' -f1 /proc/loadavg)
	log "$store: wrk -t$threads -c$connections, ${duration}s per scenario and store"
	for scenario in "${scenarios[@]}"; do
		for size in $sizes; do
			pid=${gh_pids[$size]}
			base=${bases[$size]}
			lists=$work/$store/$size/lists
			printf '  %-16s %-6s ' "$scenario" "$size" >&2
			wrk_env=(SCALE_LISTS="$lists" SCALE_SCENARIO="$scenario" SCALE_THREADS="$threads" SCALE_SPREAD="$spread" SCALE_ENCODING="$encoding")
			# The warm-up fills the caches; the cold scenario has none, or
			# its tokens would no longer be cold.
			if [[ $scenario != cold ]]; then
				timeout 600 "$seed" prime -registry "$base" -tokens "$lists/tokens-$scenario.txt" \
					-concurrency "$connections" >"$work/logs/prime-$store-$size-$scenario.txt"
				if ((warmup > 0)); then
					env "${wrk_env[@]}" timeout $((warmup + 30)) wrk -t "$threads" -c "$connections" -d "${warmup}s" \
						-s "$root/bench/scale.lua" "$base" >/dev/null
				fi
			fi
			"$seed" memwatch -pid "$pid" -max "$((duration + 60))s" -out "$res/mem-$size-$scenario.json" &
			memwatch_pid=$!
			pprof_pid=
			if [[ $pprof == 1 ]]; then
				curl -fsS --max-time $((duration + 30)) -o "$work/pprof/$store-$size-$scenario.pprof" \
					"http://127.0.0.1:${metrics_ports[$size]}/debug/pprof/profile?seconds=$duration" &
				pprof_pid=$!
			fi
			sleep 0.3
			"$seed" cputime -out "$res/cpu-$size-$scenario.json" -- env "${wrk_env[@]}" timeout $((duration + 30)) \
				wrk -t "$threads" -c "$connections" -d "${duration}s" --latency \
				-s "$root/bench/scale.lua" "$base" >"$res/wrk-$size-$scenario.txt"
			kill -TERM "$memwatch_pid"
			wait "$memwatch_pid"
			memwatch_pid=
			if [[ -n $pprof_pid ]]; then
				wait "$pprof_pid" || true
				curl -fsS --max-time 30 -o "$work/pprof/$store-$size-$scenario.heap" \
					"http://127.0.0.1:${metrics_ports[$size]}/debug/pprof/heap" || true
				go tool pprof -top -nodecount 60 "$work/bin/gatehouse" "$work/pprof/$store-$size-$scenario.pprof" \
					>"$work/pprof/$store-$size-$scenario.txt" 2>/dev/null || true
				go tool pprof -top -sample_index=inuse_space -nodecount 40 "$work/bin/gatehouse" \
					"$work/pprof/$store-$size-$scenario.heap" >"$work/pprof/$store-$size-$scenario-heap.txt" 2>/dev/null || true
			fi
			grep -E "^Requests/sec:" "$res/wrk-$size-$scenario.txt" >&2 || printf "\n" >&2
			grep -E "^Cold requests/sec" "$res/wrk-$size-$scenario.txt" >&2 || true
		done
	done

	for size in $sizes; do
		pid=${gh_pids[$size]}
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		unset "gh_pids[$size]"
		# The WAL as gatehouse left it, after the load's writes (token uses).
		printf 'wal_after_bytes: %s\n' "$(file_bytes "$work/$store/$size/data/gatehouse.db-wal")" >>"$res/server-$size.txt"
	done
	if [[ $store == postgres ]]; then
		for size in $sizes; do
			"$seed" pgdb drop -admin "$pg_admin" -name "gatehouse_scale_run_$$_$size"
		done
		pg_dbs=()
		printf 'gatehouse store: PostgreSQL %s on the same machine (a database per store) and a tarball folder\n' \
			"$pg_version" >"$res/settings.txt"
	else
		printf 'gatehouse store: SQLite (WAL, synchronous FULL) and a tarball folder, in the data folder\n' >"$res/settings.txt"
	fi
	printf 'machine load before its load tests: %s (1-minute load average)\n' "$store_load" >>"$res/settings.txt"
	# The data folders (gigabytes for the big store) go now, not at the end.
	rm -rf "${work:?}/$store"/*/data
}

if [[ $warmup -gt 0 ]] && ((warmup + duration > 50)); then
	printf 'bench/scale.sh: warning: warm-up and run last over 50 s: last-use writes may fall into the runs\n' >&2
fi
for store in $stores; do
	run_store "$store"
done

{
	printf 'gatehouse: %s\n' "$version"
	printf 'wrk: %s\n' "$(wrk -v 2>&1 | head -n 1 | awk '{ print $2 }')"
	printf 'Go: %s\n' "$(go env GOVERSION)"
} >"$results/versions.txt"
{
	printf 'load: wrk -t%s -c%s, keep-alive, %s s per scenario after %s s of warm-up (none for cold), a Bearer token on every request\n' \
		"$threads" "$connections" "$duration" "$warmup"
	if ((spread > 0)); then
		names="the first $spread package names"
	else
		names="every package name"
	fi
	printf 'spread: %s and 1/%s of %s warm tokens (each warm scenario its own), drawn at random per request; cold: %s tokens each used once\n' "$names" "$((${#scenarios[@]} - 1))" "$sample" "$cold"
	printf 'Zipf: names drawn by popularity, the k-th most popular in proportion to 1/k^%s, over every package in an order shuffled with seed %s\n' "$zipf_s" "$zipf_seed"
	printf 'versions: %s per package, READMEs of about %s bytes\n' "$versions" "$readme_bytes"
	printf 'log level: %s\n' "$gatehouse_log_level"
	printf 'Accept-Encoding: %s\n' "${encoding:-(none: documents as JSON)}"
	printf 'machine load before the load tests: %s (1-minute load average)\n' "$load_before"
} >"$results/settings.txt"

log "results"
report_args=(-results "$results")
if [[ $docs != none ]]; then
	report_args+=(-docs "$docs")
fi
"$seed" scalereport "${report_args[@]}"
if [[ $docs != none ]]; then
	printf '\nbench/scale.sh: wrote the table into %s\n' "$docs" >&2
fi
