#!/usr/bin/env bash
# bench/publishmem.sh: the memory gatehouse holds while clients send large
# publish bodies at once: anonymous ones (refused before their body is read)
# and signed-in ones (read as a stream: the tarball decoded, hashed, checked
# and spooled to a file). One command:
#
#   bench/publishmem.sh
#
# It builds gatehouse (or takes GATEHOUSE_BIN, e.g. a build of an older
# commit, to compare), serves it on 127.0.0.1 with --max-body-size 100MiB,
# creates one user, writes publish bodies of about BENCH_BODY_MB MB (a tarball
# of random bytes, base64 in the JSON document npm sends), then sends
# BENCH_ANONYMOUS anonymous PUTs and BENCH_SIGNED signed-in PUTs of them all
# at once with curl, and prints the server's resident memory before and its
# peak (VmHWM) after. Every process it starts is stopped at the end.
#
#   BENCH_ANONYMOUS=8 BENCH_SIGNED=4 BENCH_BODY_MB=98 bench/publishmem.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
anonymous=${BENCH_ANONYMOUS:-4}
signed=${BENCH_SIGNED:-4}
body_mb=${BENCH_BODY_MB:-98}

log() { printf 'bench/publishmem.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}
for tool in curl gzip tar base64 sha1sum sha512sum xxd; do
	command -v "$tool" >/dev/null || die "needs $tool"
done

work=$(mktemp -d)
pids=()
cleanup() {
	local status=$? i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin=${GATEHOUSE_BIN:-}
if [[ -z $bin ]]; then
	log "building gatehouse"
	(cd "$root" && go build -o "$work/gatehouse" ./cmd/gatehouse)
	bin=$work/gatehouse
fi
port=$(cd "$root" && go run ./bench/seed freeport)
url=http://127.0.0.1:$port

"$bin" serve --listen "127.0.0.1:$port" --data "$work/data" --max-body-size 100MiB \
	--log-level error >"$work/gatehouse.log" 2>&1 &
pid=$!
pids+=("$pid")
for _ in $(seq 150); do
	curl -fsS -o /dev/null --max-time 2 "$url/-/ping" 2>/dev/null && break
	sleep 0.2
done
curl -fsS -o /dev/null "$url/-/ping" || die "gatehouse did not start (see $work/gatehouse.log)"

token=$(curl -fsS -X PUT -H 'Content-Type: application/json' \
	-d '{"name":"bench","password":"bench-password-1"}' "$url/-/user/org.couchdb.user:bench" |
	sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[[ -n $token ]] || die "could not create the user"

# body NAME FILE: a publish body for NAME@1.0.0 whose base64 tarball makes
# the document about body_mb MB.
body() {
	local name=$1 out=$2 dir=$work/pkg-$1
	mkdir -p "$dir/package"
	printf '{"name":"%s","version":"1.0.0"}' "$name" >"$dir/package/package.json"
	head -c $((body_mb * 1000 * 1000 * 3 / 4 - 4096)) /dev/urandom >"$dir/package/blob.bin"
	tar -C "$dir" -cf - package | gzip -1 >"$dir/p.tgz"
	local shasum integrity size
	shasum=$(sha1sum "$dir/p.tgz" | cut -d' ' -f1)
	integrity=sha512-$(sha512sum "$dir/p.tgz" | cut -d' ' -f1 | xxd -r -p | base64 -w0)
	size=$(stat -c %s "$dir/p.tgz")
	{
		printf '{"_id":"%s","name":"%s","dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":{"name":"%s","version":"1.0.0",' "$name" "$name" "$name"
		printf '"dist":{"shasum":"%s","integrity":"%s"}}},"access":null,"_attachments":{"%s-1.0.0.tgz":' "$shasum" "$integrity" "$name"
		printf '{"content_type":"application/octet-stream","length":%d,"data":"' "$size"
		base64 -w0 "$dir/p.tgz"
		printf '"}}}'
	} >"$out"
	rm -rf "$dir"
}

log "writing $((signed > 0 ? signed : 1)) bodies of about $body_mb MB"
body anon "$work/anon.json"
for i in $(seq "$signed"); do
	body "big$i" "$work/big$i.json"
done

rss() { awk -v k="$1:" '$1 == k {print int($2 / 1024)}' "/proc/$pid/status"; }
before=$(rss VmRSS)
log "gatehouse holds $before MiB; sending $anonymous anonymous and $signed signed-in PUTs of $(($(stat -c %s "$work/anon.json") / 1000000)) MB at once"

start=$SECONDS
clients=()
for i in $(seq "$anonymous"); do
	curl -sS -o /dev/null -w "anonymous $i: %{http_code}\n" -X PUT -H 'Content-Type: application/json' \
		--data-binary "@$work/anon.json" "$url/anon" >"$work/anon$i.out" 2>&1 &
	clients+=($!)
done
for i in $(seq "$signed"); do
	curl -sS -o /dev/null -w "signed-in $i: %{http_code}\n" -X PUT -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $token" --data-binary "@$work/big$i.json" "$url/big$i" >"$work/big$i.out" 2>&1 &
	clients+=($!)
done
for c in "${clients[@]}"; do
	wait "$c" || true
done
elapsed=$((SECONDS - start))
cat "$work"/anon*.out "$work"/big*.out | sort | uniq -c | sed 's/^/  /' >&2
after=$(rss VmRSS)
peak=$(rss VmHWM)
printf 'bodies of %d MB: %d anonymous, %d signed in: RSS %d MiB before, peak %d MiB, %d MiB after (%d s)\n' \
	"$body_mb" "$anonymous" "$signed" "$before" "$peak" "$after" "$elapsed"
