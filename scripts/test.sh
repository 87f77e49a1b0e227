#!/usr/bin/env bash
# The test command. It installs what the tests need (Debian packages, when
# run as root; Go modules come through the module proxy), checks formatting,
# runs go vet and staticcheck, and runs the whole suite under the race
# detector once per backend: KSOCKET_BACKEND=uring (strict: no ring is a
# failure) and KSOCKET_BACKEND=epoll.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use as real peers or tools.
packages=(strace netcat-openbsd curl dnsmasq-base)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [ "$(id -u)" = 0 ]; then
		echo "== installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		echo "missing Debian packages: ${missing[*]}; run as root or install them. Tests that need them skip." >&2
	fi
fi

step() { echo "== $*"; }

step "gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

step "go vet"
go vet ./...

step "staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

step "go vet, bench module"
(cd bench && go vet ./...)

step "cross-builds: darwin, windows, android"
GOOS=darwin go vet ./...
GOOS=windows go vet ./...
GOOS=android GOARCH=arm64 go vet ./...

for backend in uring epoll; do
	step "go test -race (KSOCKET_BACKEND=$backend)"
	KSOCKET_BACKEND=$backend go test -race -count=1 ./...
	step "nettest conformance, 5 times (KSOCKET_BACKEND=$backend)"
	KSOCKET_BACKEND=$backend go test -race -count=5 -run '^TestNettest' ./gonet
	# Without -race, whose own memory would hide an RSS leak; the soak
	# passes under -race too (go test -race ... -soak=30s).
	step "soak, 30 s, 1,000 connections of echo and HTTP (KSOCKET_BACKEND=$backend)"
	KSOCKET_BACKEND=$backend go test -count=1 -run '^TestSoak$' ./gonet -soak=30s
done

# Older kernels, emulated: KSOCKET_FEATURES masks every ring op and setup
# flag newer than the version, and the masked calls become plain syscalls.
for profile in 5.19 6.1 6.11; do
	step "go test -short (KSOCKET_BACKEND=uring KSOCKET_FEATURES=$profile)"
	KSOCKET_BACKEND=uring KSOCKET_FEATURES=$profile go test -short -count=1 ./...
done

# Fuzz targets run by hand for now: with -fuzztime=10s the slow ones
# (FuzzDifferentialSequence) end with Go's "context deadline exceeded"
# when the time runs out in the middle of an input. For example:
#   go test -run '^$' -fuzz '^FuzzCallSequence$' -fuzztime 30s .
echo "== all tests passed"
