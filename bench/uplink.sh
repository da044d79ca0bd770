#!/usr/bin/env bash
# bench/uplink.sh: the performance targets of uplinks (issue 16), measured
# on this machine with another gatehouse on loopback as the upstream, so
# that nothing leaves the machine. One command:
#
#   bench/uplink.sh
#
# It builds gatehouse and bench/seed from the working tree, starts an
# upstream gatehouse seeded with bench/run.sh's corpus (bench/seed seed),
# and a proxy gatehouse whose one uplink is the upstream (every name that
# is not local) and which holds one local package of the same shape as the
# corpus's hot one. Then, as BENCH_PARTS says:
#
#   load     the proxy serves its local hot package and the proxied one
#            (abbreviated packument, full packument, tarball; the proxied
#            one after a warm-up, so from its cache) under the same wrk
#            load, in interleaved rounds (as bench/defaults.sh does), and
#            gives requests/s, p99 and CPU time per request, with the ratio
#            proxied ÷ local taken within each round.
#   install  `npm install` of a project with BENCH_DEPS dependencies,
#            timed by hyperfine in interleaved rounds: straight from the
#            upstream, through a proxy with an empty cache (a fresh one
#            before each run), and through a proxy that has cached it all;
#            npm's cache, node_modules and the lockfile are removed before
#            every run. For each upstream of BENCH_UPSTREAMS: the
#            gatehouse one, and Verdaccio (installed at bench/run.sh's
#            exact version by bench/verdaccio.sh, seeded with the same
#            corpus, reads open to anyone), the rounds of both interleaved.
#   memory   a tarball of BENCH_TARBALL_MB MB published upstream is fetched
#            through a fresh proxy: once alone (streamed to the client and
#            the blob store), once more (from the blob store), and a second
#            one by 4 clients at once (one fetch, three waiting); the
#            proxy's peak resident memory (VmHWM, reset before each step)
#            for each.
#
# Everything listens on 127.0.0.1 and is stopped at the end; every run is
# bounded in time. Sizes from the environment, for example:
#
#   BENCH_PARTS=load BENCH_ROUNDS=3 BENCH_DURATION=5 bench/uplink.sh
#   BENCH_PACKAGES=20 BENCH_DEPS=20 BENCH_ROUNDS=1 BENCH_DURATION=2 BENCH_INSTALL_ROUNDS=1 BENCH_TARBALL_MB=10 bench/uplink.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/stats.sh
source "$root/bench/stats.sh" # stats_awk: median, lo and hi for the report
parts=${BENCH_PARTS:-load install memory}
packages=${BENCH_PACKAGES:-200}
versions=${BENCH_VERSIONS:-10}
hot_versions=${BENCH_HOT_VERSIONS:-100}
readme_bytes=${BENCH_README_BYTES:-4096}
rounds=${BENCH_ROUNDS:-5}
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-2}
scenarios=${BENCH_SCENARIOS:-abbreviated full tarball}
deps=${BENCH_DEPS:-200}
install_rounds=${BENCH_INSTALL_ROUNDS:-5}
tarball_mb=${BENCH_TARBALL_MB:-100}
keep=${BENCH_KEEP:-0}
upstreams=${BENCH_UPSTREAMS:-gatehouse verdaccio}
threads=2
connections=32
abbreviated_accept='application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*'

die() {
	printf 'bench/uplink.sh: %s\n' "$*" >&2
	exit 1
}
say() { printf '== %s\n' "$*" >&2; }
for n in "$packages" "$versions" "$hot_versions" "$readme_bytes" "$rounds" "$duration" "$warmup" "$deps" \
	"$install_rounds" "$tarball_mb"; do
	[[ $n =~ ^[0-9]+$ ]] || die "sizes must be whole numbers, not '$n'"
done
((deps >= 1 && deps <= packages)) || die "BENCH_DEPS ($deps) must be 1 to BENCH_PACKAGES ($packages)"
((rounds >= 1 && duration >= 1 && install_rounds >= 1 && tarball_mb >= 1)) ||
	die "rounds, duration, install rounds and the tarball's size must be at least 1"
for p in $parts; do
	[[ $p == load || $p == install || $p == memory ]] || die "BENCH_PARTS: unknown part '$p' (load, install, memory)"
done
has_part() { [[ " $parts " == *" $1 "* ]]; }
for u in $upstreams; do
	[[ $u == gatehouse || $u == verdaccio ]] || die "BENCH_UPSTREAMS: unknown upstream '$u' (gatehouse, verdaccio)"
done
has_upstream() { [[ " $upstreams " == *" $1 "* ]]; }
tools=(go curl)
has_part load && tools+=(wrk)
has_part install && tools+=(npm hyperfine jq)
has_part memory && tools+=(gzip tar base64 sha1sum sha512sum xxd)
for tool in "${tools[@]}"; do
	command -v "$tool" >/dev/null 2>&1 || die "missing $tool (Debian: apt-get install -y wrk hyperfine xxd)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-uplink.XXXXXX")
mkdir -p "$work/bin" "$work/logs" "$work/results" "$work/npm"
pids=()
cleanup() {
	local status=$? i
	# The proxies started for the cold installs and the memory runs are
	# recorded in pid files, since they outlive the shell that started them.
	for f in "$work"/*.pid; do
		[[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true
	done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do wait "${pids[i]}" 2>/dev/null || true; done
	if [[ $keep == 1 || $status -ne 0 ]]; then
		printf 'bench/uplink.sh: kept %s\n' "$work" >&2
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

say "building gatehouse and bench/seed"
(cd "$root" && go build -o "$work/bin/gatehouse" ./cmd/gatehouse)
(cd "$root" && go build -o "$work/bin/seed" ./bench/seed)
gatehouse=$work/bin/gatehouse
seed=$work/bin/seed
free_port() { "$seed" freeport; }

# The upstream: a gatehouse in its default configuration, with room for
# the large publish of the memory part.
up_port=$(free_port)
up=http://127.0.0.1:$up_port
say "starting the upstream gatehouse on $up"
"$gatehouse" serve --listen "127.0.0.1:$up_port" --data "$work/upstream" --max-body-size 1GiB \
	>"$work/logs/upstream.log" 2>&1 &
pids+=("$!")
wait_http "$up/-/ping" 60
say "seeding the upstream: $packages packages × $versions versions (the hot one: $hot_versions)"
timeout 1800 "$seed" seed -registry "$up" -kind gatehouse -prefix bench -packages "$packages" -versions "$versions" \
	-hot-versions "$hot_versions" -readme-bytes "$readme_bytes" -users 1 -tokens 1 -concurrency 2 \
	-out "$work/results/seed-upstream.json" >/dev/null
hot=$("$seed" field "$work/results/seed-upstream.json" hot_package)
hot_tarball=$("$seed" field "$work/results/seed-upstream.json" tarball_path)

# A proxy's config: one uplink, the upstream, for every name not local.
cat >"$work/proxy.toml" <<EOF
[[uplinks]]
name = "upstream"
url = "$up"
packages = ["*"]
EOF

# The other upstream for the installs: Verdaccio, as bench/run.sh
# installs it, offline (no uplinks of its own), its web UI off, logging
# errors only, reads open to anyone (as a public registry's are), seeded
# with the same corpus.
if has_part install && has_upstream verdaccio; then
	# shellcheck source=bench/verdaccio.sh
	source "$root/bench/verdaccio.sh"
	say "installing Verdaccio $verdaccio_version and Node $node_package_version from npm"
	: >"$work/npm/userconfig"
	install_verdaccio "$work/verdaccio" "$work/npm/userconfig" "$work/logs/verdaccio-install.log" ||
		die "installing Verdaccio failed"
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
    access: \$all
    publish: \$authenticated
    unpublish: \$authenticated
  '**':
    access: \$all
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
	vd_port=$(free_port)
	vd=http://127.0.0.1:$vd_port
	say "starting Verdaccio on $vd"
	"$node24" "$verdaccio_bin" --config "$work/verdaccio/config.yaml" --listen "127.0.0.1:$vd_port" \
		>"$work/logs/verdaccio.log" 2>&1 &
	pids+=("$!")
	wait_http "$vd/-/ping" 60
	say "seeding Verdaccio: $packages packages × $versions versions (the hot one: $hot_versions)"
	timeout 1800 "$seed" seed -registry "$vd" -kind verdaccio -prefix bench -packages "$packages" -versions "$versions" \
		-hot-versions "$hot_versions" -readme-bytes "$readme_bytes" -users 1 -tokens 1 -concurrency 2 \
		-out "$work/results/seed-verdaccio.json" >/dev/null
	cat >"$work/proxy-verdaccio.toml" <<EOF
[[uplinks]]
name = "verdaccio"
url = "$vd"
packages = ["*"]
EOF
fi

# start_proxy NAME [CONFIG]: a proxy gatehouse with an empty data folder,
# in its default configuration plus the uplink of CONFIG (proxy.toml, the
# gatehouse upstream, by default; and its metrics on an address of their
# own), recorded in NAME.pid; its base URL is written to NAME.url, its
# metrics' to NAME.metrics.
start_proxy() {
	local name=$1 config=${2:-proxy.toml} port metrics_port
	if [[ -f $work/$name.pid ]]; then
		kill "$(cat "$work/$name.pid")" 2>/dev/null || true
		while kill -0 "$(cat "$work/$name.pid")" 2>/dev/null; do sleep 0.05; done
		rm -f "$work/$name.pid"
	fi
	rm -rf "$work/data-$name"
	port=$(free_port)
	metrics_port=$(free_port)
	while [[ $metrics_port == "$port" ]]; do metrics_port=$(free_port); done
	"$gatehouse" serve --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$metrics_port" --data "$work/data-$name" \
		--config "$work/$config" >>"$work/logs/$name.log" 2>&1 &
	echo "$!" >"$work/$name.pid"
	echo "http://127.0.0.1:$port" >"$work/$name.url"
	echo "http://127.0.0.1:$metrics_port/metrics" >"$work/$name.metrics"
	wait_http "http://127.0.0.1:$port/-/ping" 60
}

# The proxy under load holds a local package shaped like the hot one: with
# 8 packages in the corpus, package 0 depends on packages 1 and 7, as it
# does upstream, so both documents have the same fields and sizes.
start_proxy proxy
proxy=$(cat "$work/proxy.url")
proxy_pid=$(cat "$work/proxy.pid")
say "seeding the proxy ($proxy) with its local hot package"
timeout 600 "$seed" seed -registry "$proxy" -kind gatehouse -prefix local -packages 8 -versions 1 \
	-hot-versions "$hot_versions" -readme-bytes "$readme_bytes" -users 1 -tokens 1 -concurrency 1 \
	-out "$work/results/seed-proxy.json" >/dev/null
local_hot=$("$seed" field "$work/results/seed-proxy.json" hot_package)
local_tarball=$("$seed" field "$work/results/seed-proxy.json" tarball_path)
token=$("$seed" field "$work/results/seed-proxy.json" read_token)

{
	printf 'date: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'gatehouse: %s\n' "$(git -C "$root" describe --always --dirty 2>/dev/null || echo dev)"
	printf 'machine: %s CPUs, %s\n' "$(nproc)" "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
	printf 'corpus upstream: %s packages × %s versions (hot: %s, %s versions), READMEs of about %s bytes\n' \
		"$packages" "$versions" "$hot" "$hot_versions" "$readme_bytes"
} >"$work/results/settings.txt"

if has_part load; then
	path_of() {
		case $1:$2 in
		local:abbreviated | local:full) echo "/$local_hot" ;;
		local:tarball) echo "$local_tarball" ;;
		proxied:abbreviated | proxied:full) echo "/$hot" ;;
		proxied:tarball) echo "$hot_tarball" ;;
		*) die "unknown scenario $1:$2" ;;
		esac
	}
	accept_of() { case $1 in abbreviated) echo "$abbreviated_accept" ;; full) echo application/json ;; *) echo '*/*' ;; esac; }

	# The first requests fetch the proxied package upstream; the change
	# feed's events for what they stored come within a quarter of a second.
	for sc in $scenarios; do
		for t in local proxied; do
			curl -fsS -o "$work/results/body-$t-$sc" -H "Authorization: Bearer $token" -H "Accept: $(accept_of "$sc")" \
				"$proxy$(path_of "$t" "$sc")" || die "the proxy does not answer $t $sc"
		done
		printf '%-12s local %8d B   proxied %8d B\n' "$sc" "$(stat -c %s "$work/results/body-local-$sc")" \
			"$(stat -c %s "$work/results/body-proxied-$sc")" | tee -a "$work/results/sizes.txt" >&2
	done
	sleep 1

	cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
	hz=$(getconf CLK_TCK)
	to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.3f", v }'; }
	runs=$work/results/load.tsv
	printf 'round\tscenario\ttarget\trequests/s\tp50 ms\tp99 ms\tload\tcpu µs/request\n' >"$runs"
	say "load: $rounds rounds of wrk -t$threads -c$connections, $duration s each after $warmup s of warm-up"
	targets=(local proxied)
	for ((r = 1; r <= rounds; r++)); do
		for sc in $scenarios; do
			for ((k = 0; k < 2; k++)); do
				t=${targets[$(((k + r) % 2))]}
				args=(-t "$threads" -c "$connections" --latency -H "Authorization: Bearer $token" -H "Accept: $(accept_of "$sc")")
				url=$proxy$(path_of "$t" "$sc")
				if ((warmup > 0)); then timeout $((warmup + 30)) wrk "${args[@]}" -d "${warmup}s" "$url" >/dev/null; fi
				out=$work/results/wrk-$r-$sc-$t.txt
				c0=$(cpu_ticks "$proxy_pid")
				timeout $((duration + 30)) wrk "${args[@]}" -d "${duration}s" "$url" >"$out"
				c1=$(cpu_ticks "$proxy_pid")
				if grep -q 'Non-2xx' "$out"; then die "$t answered errors in round $r, $sc (see $out)"; fi
				rps=$(awk '/^Requests\/sec/ { print $2 }' "$out")
				p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_ms)
				p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_ms)
				reqs=$(awk '/requests in/ { print $1 }' "$out")
				cpu=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", (n > 0 ? c / hz * 1e6 / n : 0) }')
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$sc" "$t" "$rps" "$p50" "$p99" \
					"$(cut -d' ' -f1 /proc/loadavg)" "$cpu" | tee -a "$runs" >&2
			done
		done
	done
	# What the proxy counted: every proxied read above must have been a hit.
	curl -fsS "$(cat "$work/proxy.metrics")" | grep -E '^gatehouse_cache_requests_total\{cache="uplink_' \
		>"$work/results/proxy-cache-lookups.txt" || true

	printf '\n' >&2
	awk -F'\t' "$stats_awk"'
	NR == 1 { next }
	{
		rps[$2, $3] = rps[$2, $3] " " $4; p99[$2, $3] = p99[$2, $3] " " $6; cpu[$2, $3] = cpu[$2, $3] " " $8; loads = loads " " $7
		R[$1, $2, $3] = $4; C[$1, $2, $3] = $8
		if (!($2 in seen)) { seen[$2] = 1; order[++ns] = $2 } if ($1 > nr) nr = $1
	}
	END {
		printf "| scenario | served | requests/s, median (range) | p99 ms, median (range) | CPU µs/request, median (range) | proxied ÷ local requests/s, per round: median (range) | local CPU ÷ proxied CPU, per round: median (range) |\n|---|---|---:|---:|---:|---:|---:|\n"
		for (s = 1; s <= ns; s++) {
			sc = order[s]; rr = ""; cr = ""
			for (r = 1; r <= nr; r++) {
				if (R[r, sc, "local"] > 0) rr = rr " " R[r, sc, "proxied"] / R[r, sc, "local"]
				if (C[r, sc, "proxied"] > 0) cr = cr " " C[r, sc, "local"] / C[r, sc, "proxied"]
			}
			for (i = 1; i <= 2; i++) {
				t = (i == 1 ? "local" : "proxied")
				printf "| %s | %s | %.0f (%.0f–%.0f) | %.2f (%.2f–%.2f) | %.1f (%.1f–%.1f) | %s | %s |\n", sc, t,
					median(rps[sc, t]), lo(rps[sc, t]), hi(rps[sc, t]), median(p99[sc, t]), lo(p99[sc, t]), hi(p99[sc, t]),
					median(cpu[sc, t]), lo(cpu[sc, t]), hi(cpu[sc, t]),
					(t == "local" ? "" : sprintf("%.2f× (%.2f–%.2f)", median(rr), lo(rr), hi(rr))),
					(t == "local" ? "" : sprintf("%.2f× (%.2f–%.2f)", median(cr), lo(cr), hi(cr)))
			}
		}
		printf "\n1-minute load average after each run: median %.1f, range %.1f–%.1f\n", median(loads), lo(loads), hi(loads)
	}' "$runs" | tee "$work/results/load.md"
	printf '\nthe proxy'"'"'s cache look-ups (gatehouse_cache_requests_total):\n' >&2
	sed 's/^/  /' "$work/results/proxy-cache-lookups.txt" >&2
fi

if has_part install; then
	say "install: npm install of $deps dependencies, $install_rounds interleaved rounds"
	"$seed" project -prefix bench -packages "$packages" -deps "$deps" -dir "$work/npm/project"
	: >"$work/npm/userconfig"
	# install.sh DIR REGISTRY: npm install into DIR from REGISTRY, anonymous
	# (the corpus is public), with DIR's own npm cache.
	cat >"$work/npm/install.sh" <<'EOF'
cd "$1" && exec npm install --ignore-scripts --no-audit --no-fund --loglevel=error --userconfig "$3" --cache "$1/cache" --registry "$2/"
EOF
	# prepare.sh DIR: a clean project: no node_modules, no lockfile, an
	# empty npm cache.
	cat >"$work/npm/prepare.sh" <<'EOF'
rm -rf "$1/node_modules" "$1/package-lock.json" "$1/cache"
EOF
	# upstream_url U, proxy_config U: the upstream U's URL and the config
	# of a proxy in front of it.
	upstream_url() { case $1 in gatehouse) echo "$up" ;; verdaccio) echo "$vd" ;; esac; }
	proxy_config() { case $1 in gatehouse) echo proxy.toml ;; verdaccio) echo proxy-verdaccio.toml ;; esac; }
	# upstream_requests U: the requests the upstream U has logged so far
	# (the gatehouse's log is written in batches every 50 ms); Verdaccio,
	# logging errors only, is not counted ("-").
	upstream_requests() {
		if [[ $1 != gatehouse ]]; then
			echo -
			return
		fi
		sleep 0.2
		grep -c 'msg=request' "$work/logs/upstream.log" || true
	}
	for u in $upstreams; do
		for t in direct cold warm; do
			mkdir -p "$work/npm/$u-$t"
			cp "$work/npm/project/package.json" "$work/npm/$u-$t/"
		done
		# The warm proxy is filled by one install before the timed ones.
		start_proxy "warm-$u" "$(proxy_config "$u")"
		sh "$work/npm/prepare.sh" "$work/npm/$u-warm"
		timeout 900 sh "$work/npm/install.sh" "$work/npm/$u-warm" "$(cat "$work/warm-$u.url")" "$work/npm/userconfig" \
			>"$work/logs/npm-warm-fill-$u.log" 2>&1 || die "npm install through the proxy of $u failed (see $work/logs/npm-warm-fill-$u.log)"
	done
	read -r -a ups <<<"$upstreams"
	installs=$work/results/install.tsv
	printf 'round\tupstream\tkind\tseconds\tload\tupstream requests\n' >"$installs"
	kinds=(direct cold warm)
	for ((r = 1; r <= install_rounds; r++)); do
		for ((j = 0; j < ${#ups[@]}; j++)); do
			u=${ups[$(((j + r) % ${#ups[@]}))]}
			for ((k = 0; k < 3; k++)); do
				t=${kinds[$(((k + r) % 3))]}
				dir=$work/npm/$u-$t
				prepare="sh '$work/npm/prepare.sh' '$dir'"
				case $t in
				direct) registry=$(upstream_url "$u") ;;
				warm) registry=$(cat "$work/warm-$u.url") ;;
				cold)
					# A fresh proxy with an empty cache before each run (not
					# timed: it is started before hyperfine).
					start_proxy "cold-$u" "$(proxy_config "$u")"
					registry=$(cat "$work/cold-$u.url")
					;;
				esac
				n0=$(upstream_requests "$u")
				timeout 900 hyperfine --style basic --runs 1 --prepare "$prepare" --export-json "$work/results/install-$r-$u-$t.json" \
					-n "npm install, $u, $t" "sh '$work/npm/install.sh' '$dir' '$registry' '$work/npm/userconfig'" \
					>"$work/logs/hyperfine-$r-$u-$t.log" 2>&1 ||
					die "npm install ($u, $t, round $r) failed (see $work/logs/hyperfine-$r-$u-$t.log)"
				installed=$(find "$dir/node_modules" -mindepth 1 -maxdepth 1 -name 'bench-*' | wc -l)
				((installed >= deps)) || die "npm install ($u, $t) installed $installed packages, not $deps"
				secs=$(jq -r '.results[0].times[0]' "$work/results/install-$r-$u-$t.json")
				n1=$(upstream_requests "$u")
				[[ $n0 == - ]] || n1=$((n1 - n0))
				printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$u" "$t" "$secs" "$(cut -d' ' -f1 /proc/loadavg)" "$n1" |
					tee -a "$installs" >&2
			done
		done
	done
	awk -F'\t' "$stats_awk"'
	NR == 1 { next }
	{
		k = $2 SUBSEP $3; s[k] = s[k] " " $4; S[$1, $2, $3] = $4; loads = loads " " $5
		if ($6 != "-") u[k] = u[k] " " $6
		if ($1 > nr) nr = $1; if (!($2 in seen)) { seen[$2] = 1; order[++nu] = $2 }
	}
	END {
		printf "| upstream | npm install | seconds, median (range) | ÷ direct, per round: median (range) | upstream requests per run, median (range) |\n|---|---|---:|---:|---:|\n"
		split("direct cold warm", K, " ")
		for (x = 1; x <= nu; x++) {
			up = order[x]
			for (i = 1; i <= 3; i++) {
				k = K[i]; rr = ""
				for (r = 1; r <= nr; r++) if (S[r, up, "direct"] > 0) rr = rr " " S[r, up, k] / S[r, up, "direct"]
				printf "| %s | %s | %.2f (%.2f–%.2f) | %s | %s |\n", up, k, median(s[up, k]), lo(s[up, k]), hi(s[up, k]),
					(k == "direct" ? "" : sprintf("%.2f× (%.2f–%.2f)", median(rr), lo(rr), hi(rr))),
					(u[up, k] == "" ? "–" : sprintf("%d (%d–%d)", median(u[up, k]), lo(u[up, k]), hi(u[up, k])))
			}
		}
		printf "\n1-minute load average after each install: median %.1f, range %.1f–%.1f\n", median(loads), lo(loads), hi(loads)
	}' "$installs" | tee "$work/results/install.md"
fi

if has_part memory; then
	say "memory: a $tarball_mb MB tarball proxied"
	upstream_token=$("$seed" field "$work/results/seed-upstream.json" publish_token)
	# body NAME: publishes NAME@1.0.0 upstream with a tarball of about
	# tarball_mb MB of random bytes (as bench/publishmem.sh builds them),
	# and leaves the tarball in NAME.tgz.
	publish_big() {
		local name=$1 dir=$work/big-$1
		mkdir -p "$dir/package"
		printf '{"name":"%s","version":"1.0.0"}' "$name" >"$dir/package/package.json"
		head -c $((tarball_mb * 1000 * 1000)) /dev/urandom >"$dir/package/blob.bin"
		tar -C "$dir" -cf - package | gzip -1 >"$work/$name.tgz"
		rm -rf "$dir"
		local shasum integrity size
		shasum=$(sha1sum "$work/$name.tgz" | cut -d' ' -f1)
		integrity=sha512-$(sha512sum "$work/$name.tgz" | cut -d' ' -f1 | xxd -r -p | base64 -w0)
		size=$(stat -c %s "$work/$name.tgz")
		{
			printf '{"_id":"%s","name":"%s","dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":{"name":"%s","version":"1.0.0",' "$name" "$name" "$name"
			printf '"dist":{"shasum":"%s","integrity":"%s"}}},"access":null,"_attachments":{"%s-1.0.0.tgz":' "$shasum" "$integrity" "$name"
			printf '{"content_type":"application/octet-stream","length":%d,"data":"' "$size"
			base64 -w0 "$work/$name.tgz"
			printf '"}}}'
		} >"$work/$name.json"
		curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/json' -H "Authorization: Bearer $upstream_token" \
			--data-binary "@$work/$name.json" "$up/$name" || die "publishing $name upstream failed"
		rm -f "$work/$name.json"
	}
	publish_big bench-big-one
	publish_big bench-big-four
	start_proxy memory
	mem=$(cat "$work/memory.url")
	mem_pid=$(cat "$work/memory.pid")
	kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$mem_pid/status"; }
	mib() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }'; }
	memory=$work/results/memory.tsv
	printf 'step\tclients\ttarball MB\tRSS before MiB\tpeak RSS MiB\tRSS after MiB\tseconds\n' >"$memory"
	# step NAME CLIENTS PACKAGE: CLIENTS downloads of PACKAGE's tarball at
	# once through the memory proxy, each checked against what was
	# published; the proxy's peak is reset before and read after.
	step() {
		local name=$1 clients=$2 pkg=$3 before peak after start i c
		echo 5 >"/proc/$mem_pid/clear_refs"
		before=$(kib VmRSS)
		start=$(date +%s.%N)
		c=()
		for ((i = 1; i <= clients; i++)); do
			curl -fsS --max-time 600 -o "$work/got-$i.tgz" "$mem/$pkg/-/$pkg-1.0.0.tgz" &
			c+=("$!")
		done
		for i in "${c[@]}"; do wait "$i" || die "a download of $pkg through the proxy failed"; done
		local secs
		secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
		peak=$(kib VmHWM)
		after=$(kib VmRSS)
		for ((i = 1; i <= clients; i++)); do
			cmp -s "$work/got-$i.tgz" "$work/$pkg.tgz" || die "download $i of $pkg differs from what was published"
			rm -f "$work/got-$i.tgz"
		done
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$clients" \
			"$(awk -v b="$(stat -c %s "$work/$pkg.tgz")" 'BEGIN { printf "%.1f", b / 1e6 }')" \
			"$(mib "$before")" "$(mib "$peak")" "$(mib "$after")" "$secs" | tee -a "$memory" >&2
	}
	step "cold: fetched, streamed to the client and the blob store" 1 bench-big-one
	step "cached: from the blob store" 1 bench-big-one
	step "cold, 4 clients at once: one fetch, 3 waiting" 4 bench-big-four
	{
		printf '| step | clients | tarball, MB | RSS before, MiB | peak RSS (VmHWM), MiB | RSS after, MiB | seconds |\n|---|---:|---:|---:|---:|---:|---:|\n'
		awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$memory"
	} | tee "$work/results/memory.md"
fi

printf '\nbench/uplink.sh: settings\n' >&2
cat "$work/results/settings.txt" >&2
