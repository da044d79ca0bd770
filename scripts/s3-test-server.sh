#!/usr/bin/env bash
# Starts an S3-compatible server (SeaweedFS) on loopback for gatehouse's tests
# and prints, on stdout, the shell exports that point the tests at it:
#
#   eval "$(scripts/s3-test-server.sh)"     # start it and export the settings
#   go test ./internal/blob/ ./internal/gc/ # the S3 halves now run
#   kill "$S3_TEST_SERVER_PID"              # stop it
#
# It builds the pinned SeaweedFS release into $(go env GOPATH)/bin/weed on
# first use (a few minutes; nothing is cached outside this machine), runs it
# on free loopback ports with its data in a new temporary folder (or DIR, the
# first argument), with an identity whose fresh random key must sign every
# request, creates the bucket, and checks that a signed write works and an
# anonymous one is refused. Progress and errors go to stderr. Set WEED to use
# another weed binary.
set -euo pipefail

weed_module=github.com/seaweedfs/seaweedfs
weed_version=v0.0.0-20261109003541-7506e5f91cd6 # SeaweedFS 4.53
bucket=gatehouse-test
region=us-east-1

say() { echo "s3-test-server: $*" >&2; }
fail() { say "$*"; exit 1; }

command -v curl >/dev/null || fail "curl is needed"
command -v node >/dev/null || fail "node is needed (to find free ports)"

# The weed binary: $WEED, else $(go env GOPATH)/bin/weed, built if missing.
# `go install` refuses the module (its go.mod has replace directives), so it
# is built inside its own module, as its Makefile does.
weed=${WEED:-"$(go env GOPATH)/bin/weed"}
if [ ! -x "$weed" ]; then
  say "building SeaweedFS $weed_version into $weed (takes a few minutes the first time)"
  start=$(date +%s)
  go mod download "$weed_module@$weed_version"
  src="$(go env GOMODCACHE)/$weed_module@$weed_version"
  mkdir -p "$(dirname "$weed")"
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$weed.partial" ./weed)
  mv "$weed.partial" "$weed"
  say "built $weed in $(( $(date +%s) - start ))s, $(du -m "$weed" | cut -f1) MiB"
fi

dir=${1:-}
if [ -z "$dir" ]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-s3.XXXXXX")
fi
mkdir -p "$dir/data" "$dir/logs"

# Eight free loopback ports: HTTP and gRPC for master, volume, filer and S3.
read -r master master_grpc volume volume_grpc filer filer_grpc s3 s3_grpc < <(node -e '
  const net = require("net"), n = 8, servers = [];
  for (let i = 0; i < n; i++) {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      servers.push(s);
      if (servers.length === n) {
        console.log(servers.map(x => x.address().port).join(" "));
        servers.forEach(x => x.close());
      }
    });
  }')

# A fresh key pair each run; the only identity, so anonymous requests fail.
access_key="GH$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
secret_key=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
umask 077
cat >"$dir/s3.json" <<JSON
{"identities": [{"name": "gatehouse-test",
  "credentials": [{"accessKey": "$access_key", "secretKey": "$secret_key"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
JSON

# -logdir keeps weed's log files inside $dir. (Its unix sockets go to /tmp,
# named by port, whatever TMPDIR says; moving them breaks its start.)
nohup "$weed" -logdir="$dir/logs" server \
  -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
  -master.port="$master" -master.port.grpc="$master_grpc" -master.telemetry=false \
  -master.volumeSizeLimitMB=64 -volume.max=0 \
  -volume.port="$volume" -volume.port.grpc="$volume_grpc" \
  -filer -filer.port="$filer" -filer.port.grpc="$filer_grpc" \
  -s3 -s3.port="$s3" -s3.port.grpc="$s3_grpc" -s3.config="$dir/s3.json" \
  -s3.port.iceberg=0 -s3.port.lance=0 \
  >"$dir/weed.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/weed.pid"

endpoint="http://127.0.0.1:$s3"
signed() { curl -sS -m 10 -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$region:s3" --user "$access_key:$secret_key" "$@"; }
stop() { kill "$pid" 2>/dev/null || true; }

# Ready when a signed write and delete of an object in the new bucket work:
# the bucket needs the filer, the object a volume server.
ready=""
ready_sha256=$(printf ready | sha256sum | cut -d' ' -f1)
for _ in $(seq 1 120); do
  kill -0 "$pid" 2>/dev/null || { tail -n 30 "$dir/weed.log" >&2; fail "weed exited during startup (log: $dir/weed.log)"; }
  code=$(signed -X PUT "$endpoint/$bucket" 2>/dev/null || true)
  if [ "$code" = 200 ] || [ "$code" = 409 ]; then
    # curl signs a body only when told its SHA-256.
    if [ "$(signed -X PUT --data-binary ready -H "x-amz-content-sha256: $ready_sha256" \
          "$endpoint/$bucket/ready-check" 2>/dev/null || true)" = 200 ] &&
       [ "$(signed -X DELETE "$endpoint/$bucket/ready-check" 2>/dev/null || true)" = 204 ]; then
      ready=yes
      break
    fi
  fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  stop
  tail -n 30 "$dir/weed.log" >&2
  fail "weed did not accept a signed write within 60s (log: $dir/weed.log)"
fi
anonymous=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary x "$endpoint/$bucket/anonymous-check" || true)
if [ "$anonymous" != 403 ]; then
  stop
  fail "an unsigned write got HTTP $anonymous, want 403: requests are not authenticated"
fi
say "SeaweedFS S3 on $endpoint, bucket $bucket, data in $dir, pid $pid"

cat <<EXPORTS
export GATEHOUSE_TEST_S3='s3://$bucket?endpoint=$endpoint&region=$region&use_path_style=true'
export AWS_ACCESS_KEY_ID='$access_key'
export AWS_SECRET_ACCESS_KEY='$secret_key'
export AWS_REGION='$region'
export S3_TEST_SERVER_PID='$pid'
export S3_TEST_SERVER_DIR='$dir'
EXPORTS
