#!/usr/bin/env bash
# bench/defaults.sh: gatehouse in its default configuration (access log at
# info included) against nginx serving the same bytes, in interleaved rounds
# so that a machine whose load moves still compares like with like. One
# command:
#
#   bench/defaults.sh
#
# It builds gatehouse from the working tree (and, with BENCH_BEFORE=REV, a
# second gatehouse from that git revision, to compare a change with what it
# changes), seeds each through its HTTP API (bench/seed seed, the same
# corpus as bench/run.sh's hot package), copies the hot package's
# abbreviated packument, full packument and tarball into an nginx root
# (nginx configured as bench/run.sh does it: sendfile, access_log off), then
# for each round and each scenario runs the same wrk load at every target
# one after the other, the order rotating from round to round, and records
# the 1-minute load average beside each run. Every gatehouse runs with
# nothing but --listen and --data: its log level is its default (info), its
# log goes to a file. Everything listens on 127.0.0.1 and is stopped at the
# end. It prints one line per run and, per scenario and target, the medians;
# the ratio to nginx is taken within each round, then its median and range
# are given. Beside requests/s and latency it records each server's CPU time
# per request (from /proc, nginx's workers included): on a machine that
# other work loads, that is the steadier figure. Sizes from the environment:
#
#   BENCH_ROUNDS=5 BENCH_DURATION=10 BENCH_BEFORE=main bench/defaults.sh
#
# BENCH_FLOOR=1 adds two more targets, the floor under any Go handler:
# bench/floor serving the same bytes from memory with nothing else per
# request, on Go's net/http (floor-nethttp) and on fasthttp (floor-fasthttp).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/stats.sh
source "$root/bench/stats.sh" # stats_awk: median, lo and hi for the report
rounds=${BENCH_ROUNDS:-5}
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-2}
packages=${BENCH_PACKAGES:-20}
hot_versions=${BENCH_HOT_VERSIONS:-100}
before=${BENCH_BEFORE:-}
scenarios=${BENCH_SCENARIOS:-abbreviated full tarball}
keep=${BENCH_KEEP:-0}
floor=${BENCH_FLOOR:-0}
threads=2
connections=32
abbreviated_accept='application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*'

die() {
	printf 'bench/defaults.sh: %s\n' "$*" >&2
	exit 1
}
for n in "$rounds" "$duration" "$warmup" "$packages" "$hot_versions"; do
	[[ $n =~ ^[0-9]+$ ]] || die "sizes must be whole numbers, not '$n'"
done
for tool in go nginx wrk curl git; do
	command -v "$tool" >/dev/null 2>&1 || die "missing $tool (bench/run.sh says how to install it)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-defaults.XXXXXX")
chmod 755 "$work"
mkdir -p "$work/bin" "$work/logs" "$work/results"
pids=()
cleanup() {
	local status=$? i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do wait "${pids[i]}" 2>/dev/null || true; done
	if [[ $keep == 1 || $status -ne 0 ]]; then
		printf 'bench/defaults.sh: kept %s\n' "$work" >&2
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() {
	local url=$1 deadline=$((SECONDS + $2))
	until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
		((SECONDS < deadline)) || die "$url did not answer within $2 s (see $work/logs)"
		sleep 0.2
	done
}

printf '== building\n' >&2
(cd "$root" && go build -o "$work/bin/gatehouse-after" ./cmd/gatehouse)
(cd "$root" && go build -o "$work/bin/seed" ./bench/seed)
seed=$work/bin/seed
targets=(after)
if [[ -n $before ]]; then
	rev=$(git -C "$root" rev-parse --verify "$before^{commit}") || die "no revision $before"
	mkdir -p "$work/src-before"
	git -C "$root" archive "$rev" | tar -x -C "$work/src-before"
	(cd "$work/src-before" && go build -o "$work/bin/gatehouse-before" ./cmd/gatehouse)
	targets=(before after)
fi
gatehouses=("${targets[@]}") # the targets that are gatehouse builds
others=(nginx)
if [[ $floor == 1 ]]; then
	(cd "$root/bench/floor" && go build -o "$work/bin/floor" .)
	others+=(floor-nethttp floor-fasthttp)
fi
targets+=("${others[@]}")

declare -A base pid_of
for t in "${gatehouses[@]}"; do
	port=$("$seed" freeport)
	base[$t]=http://127.0.0.1:$port
	"$work/bin/gatehouse-$t" serve --listen "127.0.0.1:$port" --data "$work/data-$t" >"$work/logs/gatehouse-$t.log" 2>&1 &
	pid_of[$t]=$!
	pids+=("$!")
	wait_http "${base[$t]}/-/ping" 60
	printf '== seeding gatehouse (%s)\n' "$t" >&2
	timeout 1800 "$seed" seed -registry "${base[$t]}" -kind gatehouse -prefix bench -packages "$packages" -versions 3 \
		-hot-versions "$hot_versions" -readme-bytes 4096 -users 2 -tokens 1 -concurrency 2 \
		-out "$work/results/seed-$t.json" >/dev/null
done
first=${targets[0]}
token_of() { "$seed" field "$work/results/seed-$1.json" read_token; }
declare -A token
for t in "${gatehouses[@]}"; do
	token[$t]=$(token_of "$t")
done
for t in "${others[@]}"; do
	token[$t]=${token[$first]}
done
hot=$("$seed" field "$work/results/seed-$first.json" hot_package)
tarball_path=$("$seed" field "$work/results/seed-$first.json" tarball_path)

html=$work/nginx/html
mkdir -p "$html/packument" "$html$(dirname "$tarball_path")" "$work/nginx/tmp"
auth=(-H "Authorization: Bearer ${token[$first]}")
curl -fsS "${auth[@]}" -H "Accept: $abbreviated_accept" -o "$html/packument/abbreviated.abbrev" "${base[$first]}/$hot"
curl -fsS "${auth[@]}" -H "Accept: application/json" -o "$html/packument/full.json" "${base[$first]}/$hot"
curl -fsS "${auth[@]}" -o "$html$tarball_path" "${base[$first]}$tarball_path"
chmod -R a+rX "$work/nginx"
ng_port=$("$seed" freeport)
base[nginx]=http://127.0.0.1:$ng_port
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/logs/nginx-error.log error;
events { worker_connections 1024; }
http {
    access_log off;
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
    map \$http_accept \$packument {
        default full.json;
        "~application/vnd\.npm\.install-v1\+json" abbreviated.abbrev;
    }
    server {
        listen 127.0.0.1:$ng_port;
        root $html;
        location = /-/ping { default_type application/json; return 200 "{}"; }
        location = /$hot { try_files /packument/\$packument =404; }
        location / { try_files \$uri =404; }
    }
}
NGINX
nginx -e "$work/logs/nginx-error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=("$!")
wait_http "${base[nginx]}/-/ping" 30
if [[ $floor == 1 ]]; then
	for t in floor-nethttp floor-fasthttp; do
		port=$("$seed" freeport)
		base[$t]=http://127.0.0.1:$port
		"$work/bin/floor" -server "${t#floor-}" -listen "127.0.0.1:$port" -root "$html" -packument "$hot" >"$work/logs/$t.log" 2>&1 &
		pid_of[$t]=$!
		pids+=("$!")
		wait_http "${base[$t]}/-/ping" 30
	done
fi

path_of() { case $1 in abbreviated | full) echo "/$hot" ;; tarball) echo "$tarball_path" ;; *) die "unknown scenario $1" ;; esac; }
accept_of() { case $1 in abbreviated) echo "$abbreviated_accept" ;; full) echo application/json ;; *) echo '*/*' ;; esac; }

# Every target answers every scenario with the same bytes.
for sc in $scenarios; do
	ref=
	for t in "${targets[@]}"; do
		sum=$(curl -fsS -H "Authorization: Bearer ${token[$t]}" -H "Accept: $(accept_of "$sc")" "${base[$t]}$(path_of "$sc")" | wc -c)
		[[ -z $ref || $sum == "$ref" ]] || die "$t answers $sc with $sum bytes, the first target with $ref"
		ref=$sum
	done
done

# cpu_ticks PID: CPU time (user + system, in clock ticks) of PID and its
# children (nginx's workers) so far.
cpu_ticks() {
	local p total=0
	for p in "$1" $(pgrep -P "$1" || true); do
		[[ -r /proc/$p/stat ]] || continue
		total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
	done
	echo "$total"
}
hz=$(getconf CLK_TCK)
pid_of[nginx]=$(cat "$work/nginx/nginx.pid" 2>/dev/null || echo "${pids[-1]}")

# One line per run: round scenario target requests/s p50 p99 load(1 min),
# and the server's CPU time per request in microseconds, the figure the
# machine's other work disturbs least (it decides the throughput when the
# server has the cores to itself).
runs=$work/results/runs.tsv
printf 'round\tscenario\ttarget\trequests/s\tp50 ms\tp99 ms\tload\tcpu µs/request\n' >"$runs"
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.3f", v }'; }
printf '== %s rounds of wrk -t%s -c%s, %s s each after %s s of warm-up; targets: %s\n' \
	"$rounds" "$threads" "$connections" "$duration" "$warmup" "${targets[*]}" >&2
n=${#targets[@]}
for ((r = 1; r <= rounds; r++)); do
	for sc in $scenarios; do
		for ((k = 0; k < n; k++)); do
			t=${targets[$(((k + r) % n))]}
			args=(-t "$threads" -c "$connections" --latency -H "Authorization: Bearer ${token[$t]}" -H "Accept: $(accept_of "$sc")")
			url=${base[$t]}$(path_of "$sc")
			timeout $((warmup + 30)) wrk "${args[@]}" -d "${warmup}s" "$url" >/dev/null
			out=$work/results/wrk-$r-$sc-$t.txt
			c0=$(cpu_ticks "${pid_of[$t]}")
			timeout $((duration + 30)) wrk "${args[@]}" -d "${duration}s" "$url" >"$out"
			c1=$(cpu_ticks "${pid_of[$t]}")
			load=$(cut -d' ' -f1 /proc/loadavg)
			rps=$(awk '/^Requests\/sec/ { print $2 }' "$out")
			p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_ms)
			p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_ms)
			if grep -q 'Non-2xx' "$out"; then die "$t answered errors in round $r, $sc (see $out)"; fi
			reqs=$(awk '/requests in/ { print $1 }' "$out")
			cpu=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", (n > 0 ? c / hz * 1e6 / n : 0) }')
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$sc" "$t" "$rps" "$p50" "$p99" "$load" "$cpu" | tee -a "$runs" >&2
		done
	done
done

# Medians per scenario and target, and the per-round ratios to nginx.
printf '\n' >&2
awk -F'\t' -v targets="${targets[*]}" "$stats_awk"'
NR == 1 { next }
{
	rps[$2, $3] = rps[$2, $3] " " $4; p99[$2, $3] = p99[$2, $3] " " $6; loads = loads " " $7; cpu[$2, $3] = cpu[$2, $3] " " $8
	C[$1, $2, $3] = $8
	R[$1, $2, $3] = $4; P[$1, $2, $3] = $6; if (!($2 in seen)) { seen[$2] = 1; order[++ns] = $2 } if ($1 > nr) nr = $1
}
END {
	nt = split(targets, T, " ")
	printf "| scenario | target | requests/s, median (range) | p99 ms, median (range) | requests/s ÷ nginx, per round: median (range) | p99 ÷ nginx, per round: median (range) | CPU µs/request, median (range) | nginx CPU ÷ this, per round: median (range) |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
	for (s = 1; s <= ns; s++) {
		sc = order[s]
		for (i = 1; i <= nt; i++) {
			t = T[i]; rr = ""; pr = ""; cr = ""
			if (t != "nginx") for (r = 1; r <= nr; r++) if (R[r, sc, "nginx"] > 0) {
				rr = rr " " R[r, sc, t] / R[r, sc, "nginx"]; pr = pr " " P[r, sc, t] / P[r, sc, "nginx"]
				if (C[r, sc, t] > 0) cr = cr " " C[r, sc, "nginx"] / C[r, sc, t]
			}
			printf "| %s | %s | %.0f (%.0f–%.0f) | %.2f (%.2f–%.2f) | %s | %s | %.1f (%.1f–%.1f) | %s |\n", sc, (t == "nginx" || t ~ /^floor-/ ? t : "gatehouse " t),
				median(rps[sc, t]), lo(rps[sc, t]), hi(rps[sc, t]), median(p99[sc, t]), lo(p99[sc, t]), hi(p99[sc, t]),
				(rr == "" ? "–" : sprintf("%.2f× (%.2f–%.2f)", median(rr), lo(rr), hi(rr))),
				(pr == "" ? "–" : sprintf("%.2f× (%.2f–%.2f)", median(pr), lo(pr), hi(pr))),
				median(cpu[sc, t]), lo(cpu[sc, t]), hi(cpu[sc, t]),
				(cr == "" ? "–" : sprintf("%.2f× (%.2f–%.2f)", median(cr), lo(cr), hi(cr)))
		}
	}
	printf "\n1-minute load average after each run: median %.1f, range %.1f–%.1f\n", median(loads), lo(loads), hi(loads)
}' "$runs"
for t in "${gatehouses[@]}"; do
	printf 'gatehouse %s wrote %s access log lines\n' "$t" "$(grep -c 'msg=request' "$work/logs/gatehouse-$t.log" || true)"
done
