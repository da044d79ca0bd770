#!/usr/bin/env bash
# bench/run.sh: compare gatehouse with Verdaccio, and with nginx serving the
# same bytes as static files, on this machine. One command:
#
#   bench/run.sh
#
# It builds gatehouse, seeds it and Verdaccio through their HTTP APIs with
# the same packages (bench/seed), copies the hot package's packuments and
# tarball into an nginx root, drives the same wrk load at all three, times
# `npm ci` of a 200-dependency project and 10 KB publishes, then prints the
# table and writes it into docs/benchmarks.md between the bench/run.sh
# markers. Every server listens on 127.0.0.1 and is stopped at the end;
# every load run is bounded in time. Sizes come from the environment (see
# docs/benchmarks.md), for example:
#
#   BENCH_PACKAGES=300 BENCH_DURATION=20 bench/run.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Corpus (bench/seed seed flags).
prefix=bench
packages=${BENCH_PACKAGES:-200}
versions=${BENCH_VERSIONS:-10}
hot_versions=${BENCH_HOT_VERSIONS:-100}
readme_bytes=${BENCH_README_BYTES:-4096}
users=${BENCH_USERS:-10}
tokens=${BENCH_TOKENS:-3}
seed_concurrency=${BENCH_SEED_CONCURRENCY:-4}
# Load: wrk with keep-alive, fixed by the issue at 2 threads and 32 connections.
threads=2
connections=32
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-2}
# npm ci of a project with this many dependencies, timed by hyperfine.
deps=${BENCH_DEPS:-200}
npm_runs=${BENCH_NPM_RUNS:-3}
# Publishes timed one at a time.
publishes=${BENCH_PUBLISHES:-300}
publish_size=${BENCH_PUBLISH_SIZE:-10240}
# gatehouse's log level: empty for its default (info, which writes the
# access log, a line per request, as a user's gatehouse does), or debug,
# info, warn or error. Its log goes to a file in the temporary folder.
# Verdaccio logs at error level and nginx writes no access log (noted in the
# table), so the comparison is with those at their fastest.
gatehouse_log_level=${BENCH_GATEHOUSE_LOG_LEVEL:-}
nginx_access_log=off
# gatehouse's metadata store and blob store: empty for the embedded default
# (SQLite and a folder under its data folder); a postgres:// URL (a fresh,
# empty database: the seed creates accounts that must not exist yet) and an
# s3:// URL (with AWS_* credentials in the environment) run it as a node of
# a cluster would. The URLs are passed in the environment, never in a
# process list or the report.
database=${BENCH_DATABASE:-}
blobs=${BENCH_BLOBS:-}
# The file whose bench/run.sh section is replaced; "none" leaves it alone.
docs=${BENCH_DOCS:-$root/docs/benchmarks.md}
# 1 keeps the temporary folder (logs, raw wrk output) after the run.
keep=${BENCH_KEEP:-0}
# 1 records a CPU profile of gatehouse (perf, Debian's linux-perf) during
# each of its measured runs, into the kept folder's perf/; the sampling
# costs gatehouse a little throughput.
profile=${BENCH_PERF:-0}
# 1 records Go CPU profiles of gatehouse (its --pprof endpoint on a metrics
# address of its own) during each of its measured runs, into the kept
# folder's pprof/, with a `go tool pprof -top` listing beside each.
pprof=${BENCH_PPROF:-0}

# shellcheck source=bench/verdaccio.sh
source "$(dirname "${BASH_SOURCE[0]}")/verdaccio.sh" # verdaccio_version, node_package_version, install_verdaccio
abbreviated_accept='application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*'

log() { printf '\n== %s\n' "$*" >&2; }
die() {
	printf 'bench/run.sh: %s\n' "$*" >&2
	exit 1
}

for n in "$packages" "$versions" "$hot_versions" "$readme_bytes" "$users" "$tokens" "$seed_concurrency" "$duration" "$warmup" \
	"$deps" "$npm_runs" "$publishes" "$publish_size"; do
	[[ $n =~ ^[0-9]+$ ]] || die "sizes must be whole numbers, not '$n'"
done
((deps <= packages)) || die "BENCH_DEPS ($deps) must not exceed BENCH_PACKAGES ($packages)"
((duration >= 1 && npm_runs >= 1 && publishes >= 1)) || die "duration, npm runs and publishes must be at least 1"

# Tools: Debian's nginx, wrk and hyperfine are installed when missing and
# this runs as root; go, node, npm and curl must be there.
missing=()
for tool in nginx wrk hyperfine; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		log "installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		die "missing ${missing[*]}: apt-get install -y ${missing[*]}"
	fi
fi
for tool in go node npm curl timeout; do
	command -v "$tool" >/dev/null 2>&1 || die "missing $tool"
done
nginx_bin=$(command -v nginx)

work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
# nginx's workers run as nobody when the master runs as root: they must be
# able to walk into the folder.
chmod 755 "$work"
results=$work/results
mkdir -p "$results" "$work/bin" "$work/logs"

pids=()
memwatch_pid=
cleanup() {
	local status=$?
	if [[ -n $memwatch_pid ]]; then
		kill "$memwatch_pid" 2>/dev/null || true
	fi
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
	done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		wait "${pids[i]}" 2>/dev/null || true
	done
	if [[ $keep == 1 || $status -ne 0 ]]; then
		printf 'bench/run.sh: kept %s (logs in logs/, raw results in results/)\n' "$work" >&2
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_http URL SECONDS: wait until URL answers 200.
wait_http() {
	local url=$1 deadline=$((SECONDS + $2))
	until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
		((SECONDS < deadline)) || die "$url did not answer within $2 s (see $work/logs)"
		sleep 0.2
	done
}

log "building gatehouse and bench/seed"
version=${BENCH_GATEHOUSE_VERSION:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo dev)}
(cd "$root" && go build -ldflags "-X main.version=$version" -o "$work/bin/gatehouse" ./cmd/gatehouse)
(cd "$root" && go build -o "$work/bin/seed" ./bench/seed)
seed=$work/bin/seed

gh_port=$("$seed" freeport)
vd_port=$("$seed" freeport)
ng_port=$("$seed" freeport)
while [[ $vd_port == "$gh_port" ]]; do vd_port=$("$seed" freeport); done
while [[ $ng_port == "$gh_port" || $ng_port == "$vd_port" ]]; do ng_port=$("$seed" freeport); done
gh=http://127.0.0.1:$gh_port
vd=http://127.0.0.1:$vd_port
ng=http://127.0.0.1:$ng_port

# The proxied hot package: a second gatehouse on loopback holds a package
# of the hot one's shape (bench/seed, prefix "proxied": with 8 packages,
# package 0 depends on packages 1 and 7, as in the main corpus), and
# gatehouse proxies that one name from it (an uplink whose packages list
# names it alone, so every other scenario is as without an uplink). It is
# measured after a warm-up, so from gatehouse's cache: the issue's target
# is the local package's rate within 10%.
up_port=$("$seed" freeport)
while [[ $up_port == "$gh_port" || $up_port == "$vd_port" || $up_port == "$ng_port" ]]; do up_port=$("$seed" freeport); done
up=http://127.0.0.1:$up_port
log "starting the upstream gatehouse on $up and seeding its one package"
"$work/bin/gatehouse" serve --listen "127.0.0.1:$up_port" --data "$work/upstream-data" >"$work/logs/upstream.log" 2>&1 &
pids+=("$!")
wait_http "$up/-/ping" 30
timeout 600 "$seed" seed -registry "$up" -kind gatehouse -prefix proxied -packages 8 -versions 1 \
	-hot-versions "$hot_versions" -readme-bytes "$readme_bytes" -users 0 -tokens 0 -concurrency 1 \
	-out "$results/seed-upstream.json" >/dev/null 2>"$work/logs/seed-upstream.log" ||
	die "seeding the upstream gatehouse failed (see $work/logs/seed-upstream.log)"
proxied_hot=$("$seed" field "$results/seed-upstream.json" hot_package)
proxied_tarball_path=$("$seed" field "$results/seed-upstream.json" tarball_path)
cat >"$work/gatehouse.toml" <<EOF
[[uplinks]]
name = "upstream"
url = "$up"
packages = ["$proxied_hot"]
EOF

log "starting gatehouse on $gh"
gh_flags=(--config "$work/gatehouse.toml")
if [[ $pprof == 1 ]]; then
	gh_metrics_port=$("$seed" freeport)
	while [[ $gh_metrics_port == "$gh_port" || $gh_metrics_port == "$vd_port" || $gh_metrics_port == "$ng_port" ]]; do
		gh_metrics_port=$("$seed" freeport)
	done
	gh_flags+=(--metrics-listen "127.0.0.1:$gh_metrics_port" --pprof=true)
fi
GATEHOUSE_DATABASE=$database GATEHOUSE_BLOBS=$blobs \
	"$work/bin/gatehouse" serve --listen "127.0.0.1:$gh_port" --data "$work/gatehouse-data" \
	${gatehouse_log_level:+--log-level "$gatehouse_log_level"} "${gh_flags[@]}" >"$work/logs/gatehouse.log" 2>&1 &
gh_pid=$!
pids+=("$gh_pid")
wait_http "$gh/-/ping" 30

log "installing Verdaccio $verdaccio_version and Node $node_package_version from npm"
mkdir -p "$work/verdaccio" "$work/npm"
: >"$work/npm/userconfig"
install_verdaccio "$work/verdaccio" "$work/npm/userconfig" "$work/logs/verdaccio-install.log" ||
	die "installing Verdaccio failed"

# Verdaccio offline and at its fastest: no uplinks, no web UI, htpasswd
# accounts, JWT tokens, logs at error level only, rate limits out of reach.
cat >"$work/verdaccio/config.yaml" <<EOF
storage: $work/verdaccio/storage
web:
  enable: false
auth:
  htpasswd:
    file: $work/verdaccio/htpasswd
    max_users: 100000
security:
  api:
    legacy: false
    jwt:
      sign:
        expiresIn: 7d
  web:
    sign:
      expiresIn: 1h
userRateLimit:
  windowMs: 1000
  max: 100000000
uplinks: {}
packages:
  '@*/*':
    access: \$authenticated
    publish: \$authenticated
    unpublish: \$authenticated
  '**':
    access: \$authenticated
    publish: \$authenticated
    unpublish: \$authenticated
server:
  keepAliveTimeout: 60
max_body_size: 100mb
log:
  type: stdout
  format: json
  level: error
EOF
log "starting Verdaccio on $vd"
"$node24" "$verdaccio_bin" --config "$work/verdaccio/config.yaml" \
	--listen "127.0.0.1:$vd_port" >"$work/logs/verdaccio.log" 2>&1 &
vd_pid=$!
pids+=("$vd_pid")
wait_http "$vd/-/ping" 60

seed_flags=(-prefix "$prefix" -packages "$packages" -versions "$versions" -hot-versions "$hot_versions"
	-readme-bytes "$readme_bytes" -users "$users" -tokens "$tokens" -concurrency "$seed_concurrency")
log "seeding gatehouse"
timeout 1800 "$seed" seed -registry "$gh" -kind gatehouse "${seed_flags[@]}" -out "$results/seed-gatehouse.json"
log "seeding Verdaccio"
timeout 1800 "$seed" seed -registry "$vd" -kind verdaccio "${seed_flags[@]}" -out "$results/seed-verdaccio.json"

gh_read=$("$seed" field "$results/seed-gatehouse.json" read_token)
gh_publish=$("$seed" field "$results/seed-gatehouse.json" publish_token)
vd_read=$("$seed" field "$results/seed-verdaccio.json" read_token)
vd_publish=$("$seed" field "$results/seed-verdaccio.json" publish_token)
hot=$("$seed" field "$results/seed-gatehouse.json" hot_package)
tarball_path=$("$seed" field "$results/seed-gatehouse.json" tarball_path)

log "copying gatehouse's answers into an nginx root; starting nginx on $ng"
html=$work/nginx/html
mkdir -p "$html/packument" "$html$(dirname "$tarball_path")" "$work/nginx/tmp"
curl -fsS -H "Authorization: Bearer $gh_read" -H "Accept: $abbreviated_accept" -o "$html/packument/abbreviated.abbrev" "$gh/$hot"
curl -fsS -H "Authorization: Bearer $gh_read" -H "Accept: application/json" -o "$html/packument/full.json" "$gh/$hot"
curl -fsS -H "Authorization: Bearer $gh_read" -o "$html$tarball_path" "$gh$tarball_path"
chmod -R a+rX "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/logs/nginx-error.log error;
events {
    worker_connections 1024;
}
http {
    access_log $nginx_access_log;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 100000000;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    types {
        application/json json;
        application/vnd.npm.install-v1+json abbrev;
        application/octet-stream tgz;
    }
    default_type application/octet-stream;
    # The same negotiation as a registry: npm's Accept header gets the
    # abbreviated packument.
    map \$http_accept \$packument {
        default full.json;
        "~application/vnd\.npm\.install-v1\+json" abbreviated.abbrev;
    }
    server {
        listen 127.0.0.1:$ng_port;
        root $html;
        location = /-/ping {
            default_type application/json;
            return 200 "{}";
        }
        location = /$hot {
            try_files /packument/\$packument =404;
        }
        location / {
            try_files \$uri =404;
        }
    }
}
EOF
"$nginx_bin" -e "$work/logs/nginx-error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
ng_pid=$!
pids+=("$ng_pid")
wait_http "$ng/-/ping" 30

# check TARGET BASE TOKEN PATH ACCEPT STATUS: one request (without a token
# or Accept header when those are empty) answers STATUS.
check() {
	local got headers=()
	if [[ -n $3 ]]; then
		headers+=(-H "Authorization: Bearer $3")
	fi
	if [[ -n $5 ]]; then
		headers+=(-H "Accept: $5")
	fi
	got=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "${headers[@]}" "$2$4")
	[[ $got == "$6" ]] || die "$1: GET $4 answered $got, not $6"
}
notfound_path=/$(basename "$hot")-no-such-package

log "checking every target answers every scenario"
for target in gatehouse verdaccio nginx; do
	case $target in
	gatehouse) base=$gh token=$gh_read ;;
	verdaccio) base=$vd token=$vd_read ;;
	nginx) base=$ng token=$gh_read ;;
	esac
	check "$target" "$base" "$token" "/$hot" "$abbreviated_accept" 200
	check "$target" "$base" "$token" "/$hot" "application/json" 200
	check "$target" "$base" "$token" "$tarball_path" "" 200
	check "$target" "$base" "$token" "$notfound_path" "" 404
done
# The first requests for the proxied package fetch it from the upstream.
check gatehouse "$gh" "$gh_read" "/$proxied_hot" "$abbreviated_accept" 200
check gatehouse "$gh" "$gh_read" "/$proxied_hot" "application/json" 200
check gatehouse "$gh" "$gh_read" "$proxied_tarball_path" "" 200
# Verdaccio must refuse a request without its token, or the comparison
# would be of unauthenticated reads.
check verdaccio "$vd" "" "/$hot" "$abbreviated_accept" 401

# load TARGET PID BASE TOKEN SCENARIO PATH [ACCEPT]: a warm-up, then the
# measured wrk run with the server's peak memory watched.
load() {
	local target=$1 pid=$2 base=$3 token=$4 scenario=$5 path=$6 accept=${7:-}
	local args=(-t "$threads" -c "$connections" --latency -H "Authorization: Bearer $token")
	if [[ -n $accept ]]; then
		args+=(-H "Accept: $accept")
	fi
	printf '  %-9s %-11s ' "$target" "$scenario" >&2
	if ((warmup > 0)); then
		timeout $((warmup + 30)) wrk "${args[@]}" -d "${warmup}s" "$base$path" >/dev/null
	fi
	"$seed" memwatch -pid "$pid" -max "$((duration + 60))s" -out "$results/mem-$target-$scenario.json" &
	memwatch_pid=$!
	local perf_pid=
	local pprof_pid=
	if [[ $pprof == 1 && $target == gatehouse ]]; then
		curl -fsS --max-time $((duration + 30)) -o "$work/pprof/$target-$scenario.pprof" \
			"http://127.0.0.1:$gh_metrics_port/debug/pprof/profile?seconds=$duration" &
		pprof_pid=$!
	fi
	if [[ $profile == 1 && $target == gatehouse ]]; then
		timeout $((duration + 30)) perf record -q -F 499 -g -p "$pid" -o "$work/perf/$target-$scenario.data" \
			-- sleep "$duration" >/dev/null 2>&1 &
		perf_pid=$!
	fi
	sleep 0.3
	timeout $((duration + 30)) wrk "${args[@]}" -d "${duration}s" "$base$path" >"$results/wrk-$target-$scenario.txt"
	kill -TERM "$memwatch_pid"
	wait "$memwatch_pid"
	memwatch_pid=
	if [[ -n $pprof_pid ]]; then
		wait "$pprof_pid" || true
		go tool pprof -top -nodecount 60 "$work/bin/gatehouse" "$work/pprof/$target-$scenario.pprof" \
			>"$work/pprof/$target-$scenario.txt" 2>/dev/null || true
	fi
	if [[ -n $perf_pid ]]; then
		wait "$perf_pid" || true
		perf report -i "$work/perf/$target-$scenario.data" --children --sort symbol --stdio -g none 2>/dev/null |
			grep -v '^#' | grep -v '^$' | head -n 80 >"$work/perf/$target-$scenario.txt" || true
	fi
	grep -E '^Requests/sec' "$results/wrk-$target-$scenario.txt" >&2 || printf '\n' >&2
}

if [[ $pprof == 1 ]]; then
	mkdir -p "$work/pprof"
	keep=1
fi
if [[ $profile == 1 ]]; then
	command -v perf >/dev/null 2>&1 || die "BENCH_PERF=1 needs perf (apt-get install -y linux-perf)"
	mkdir -p "$work/perf"
	keep=1
fi

# Other work on the machine lowers every figure: say so, and record it.
load_before=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load_before" 'BEGIN { exit !(l > 1) }'; then
	printf 'bench/run.sh: warning: the 1-minute load average is %s before the load tests; figures will be low\n' "$load_before" >&2
fi

log "load: wrk -t$threads -c$connections, ${duration}s per scenario after ${warmup}s of warm-up"
for target in gatehouse verdaccio nginx; do
	case $target in
	gatehouse) pid=$gh_pid base=$gh token=$gh_read ;;
	verdaccio) pid=$vd_pid base=$vd token=$vd_read ;;
	nginx) pid=$ng_pid base=$ng token=$gh_read ;;
	esac
	load "$target" "$pid" "$base" "$token" abbreviated "/$hot" "$abbreviated_accept"
	if [[ $target == gatehouse ]]; then
		load "$target" "$pid" "$base" "$token" proxied-abbreviated "/$proxied_hot" "$abbreviated_accept"
	fi
	load "$target" "$pid" "$base" "$token" full "/$hot" "application/json"
	if [[ $target == gatehouse ]]; then
		load "$target" "$pid" "$base" "$token" proxied-full "/$proxied_hot" "application/json"
	fi
	load "$target" "$pid" "$base" "$token" tarball "$tarball_path"
	if [[ $target == gatehouse ]]; then
		load "$target" "$pid" "$base" "$token" proxied-tarball "$proxied_tarball_path"
	fi
	load "$target" "$pid" "$base" "$token" notfound "$notfound_path"
done

log "npm ci of a project with $deps dependencies: lockfile from gatehouse"
"$seed" project -prefix "$prefix" -packages "$packages" -deps "$deps" -dir "$work/npm/lock"
printf 'registry=%s/\n//127.0.0.1:%s/:_authToken=%s\n' "$gh" "$gh_port" "$gh_read" >"$work/npm/lock/.npmrc"
(cd "$work/npm/lock" && timeout 600 npm install --package-lock-only --ignore-scripts --no-audit --no-fund \
	--loglevel=error --userconfig "$work/npm/userconfig" --cache "$work/npm/lock-cache" >"$work/logs/npm-lock.log" 2>&1) ||
	die "npm could not make the lockfile (see $work/logs/npm-lock.log)"
for target in gatehouse verdaccio; do
	case $target in
	gatehouse) base=$gh port=$gh_port token=$gh_read ;;
	verdaccio) base=$vd port=$vd_port token=$vd_read ;;
	esac
	dir=$work/npm/$target
	mkdir -p "$dir"
	cp "$work/npm/lock/package.json" "$dir/"
	sed "s#$gh/#$base/#g" "$work/npm/lock/package-lock.json" >"$dir/package-lock.json"
	printf 'registry=%s/\n//127.0.0.1:%s/:_authToken=%s\n' "$base" "$port" "$token" >"$dir/.npmrc"
	cat >"$dir/install.sh" <<EOF
cd '$dir' && exec npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --userconfig '$work/npm/userconfig' --cache '$dir/cache'
EOF
	printf '  %s\n' "$target" >&2
	timeout 1200 hyperfine --style basic --runs "$npm_runs" --prepare "rm -rf '$dir/node_modules' '$dir/cache'" \
		--export-json "$results/npm-$target.json" -n "npm ci from $target" "sh '$dir/install.sh'" >&2
	installed=$(find "$dir/node_modules" -mindepth 1 -maxdepth 1 -name "$prefix-*" | wc -l)
	((installed >= deps)) || die "npm ci from $target installed $installed packages, not $deps"
done

log "publish: $publishes publishes of $publish_size bytes, one at a time"
timeout 600 "$seed" publish -registry "$gh" -token "$gh_publish" -count "$publishes" -size "$publish_size" \
	-out "$results/publish-gatehouse.json"
timeout 600 "$seed" publish -registry "$vd" -token "$vd_publish" -count "$publishes" -size "$publish_size" \
	-out "$results/publish-verdaccio.json"

size_kb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f KB", b / 1024 }'; }
{
	printf 'gatehouse: %s\n' "$version"
	printf 'Verdaccio: %s on Node %s\n' "$verdaccio_version" "$("$node24" --version)"
	printf 'nginx: %s\n' "$("$nginx_bin" -v 2>&1 | sed 's#^nginx version: nginx/##')"
	printf 'wrk: %s\n' "$(wrk -v 2>&1 | head -n 1 | awk '{ print $2 }')"
	printf 'hyperfine: %s\n' "$(hyperfine --version | awk '{ print $2 }')"
	printf 'npm: %s on Node %s\n' "$(npm --version)" "$(node --version)"
	printf 'Go: %s\n' "$(go env GOVERSION)"
} >"$results/versions.txt"
gh_tokens=$("$seed" field "$results/seed-gatehouse.json" tokens)
{
	printf 'corpus: %s packages × %s versions (the hot one: %s), READMEs of about %s bytes, %s accounts (%s gatehouse tokens)\n' \
		"$packages" "$versions" "$hot_versions" "$readme_bytes" "$((users + 1))" "$gh_tokens"
	printf 'hot package: abbreviated packument %s, full packument %s, tarball %s (as gatehouse serves them)\n' \
		"$(size_kb "$html/packument/abbreviated.abbrev")" "$(size_kb "$html/packument/full.json")" "$(size_kb "$html$tarball_path")"
	curl -fsS -H "Authorization: Bearer $gh_read" -H "Accept: $abbreviated_accept" -o "$work/proxied.abbrev" "$gh/$proxied_hot"
	curl -fsS -H "Authorization: Bearer $gh_read" -H "Accept: application/json" -o "$work/proxied.json" "$gh/$proxied_hot"
	curl -fsS -H "Authorization: Bearer $gh_read" -o "$work/proxied.tgz" "$gh$proxied_tarball_path"
	printf 'proxied hot package: %s, of the same shape, from a second gatehouse on loopback (its uplink), measured after the warm-up (from the cache): abbreviated packument %s, full packument %s, tarball %s\n' \
		"$proxied_hot" "$(size_kb "$work/proxied.abbrev")" "$(size_kb "$work/proxied.json")" "$(size_kb "$work/proxied.tgz")"
	printf 'load: wrk -t%s -c%s, keep-alive, %s s per scenario after %s s of warm-up, a Bearer token on every request\n' \
		"$threads" "$connections" "$duration" "$warmup"
	printf 'seed concurrency: %s\n' "$seed_concurrency"
	printf 'install dependencies: %s\n' "$deps"
	printf 'npm ci: %s runs each, cold cache, the same lockfile with its URLs rewritten per registry\n' "$npm_runs"
	printf 'publish: %s × %s B\n' "$publishes" "$publish_size"
	printf 'logs: gatehouse %s, Verdaccio error, nginx access_log %s\n' \
		"${gatehouse_log_level:-info (its default: an access log line per request, to a file)}" "$nginx_access_log"
	store_kind="SQLite (WAL, synchronous FULL) in the data folder"
	if [[ -n $database ]]; then
		store_kind="PostgreSQL $(psql "$database" -XAtc 'SHOW server_version' 2>/dev/null | awk '{ print $1 }') on loopback"
	fi
	blob_kind="a folder"
	if [[ -n $blobs ]]; then
		blob_kind="an S3-compatible bucket on loopback"
	fi
	printf 'gatehouse store: %s; tarballs in %s\n' "$store_kind" "$blob_kind"
	printf 'machine load before the load tests: %s (1-minute load average)\n' "$load_before"
	if [[ $profile == 1 ]]; then
		printf 'profiling: perf record at 499 Hz on gatehouse during its runs (lowers its figures a little)\n'
	fi
} >"$results/settings.txt"

log "results"
report_args=(-results "$results")
if [[ $docs != none ]]; then
	report_args+=(-docs "$docs")
fi
"$seed" report "${report_args[@]}"
if [[ $docs != none ]]; then
	printf '\nbench/run.sh: wrote the table into %s\n' "$docs" >&2
fi
