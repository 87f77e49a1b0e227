#!/usr/bin/env bash
# The test command. It installs what the tests need (Debian packages, when
# run as root; Go modules come through the module proxy), checks formatting,
# runs go vet and staticcheck, and runs the whole suite under the race
# detector once per backend: KSOCKET_BACKEND=uring (strict: no ring is a
# failure) and KSOCKET_BACKEND=epoll.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use as real peers or tools.
packages=(strace netcat-openbsd curl dnsmasq-base iproute2 util-linux)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	# Root on a Debian system installs them; anywhere else, say so.
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "== installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		echo "missing Debian packages: ${missing[*]}; run as root on Debian, or install them. Tests that need them skip." >&2
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

step "go vet and tests, bench module"
(cd bench && go vet ./... && go test -count=1 ./...)

step "go vet and staticcheck, interop module (quic-go, grpc-go)"
(cd interop && go vet ./... && go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...)

step "cross-builds: darwin, windows, android"
GOOS=darwin go vet ./...
GOOS=windows go vet ./...
GOOS=android GOARCH=arm64 go vet ./...

for backend in uring epoll; do
	step "go test -race (KSOCKET_BACKEND=$backend)"
	KSOCKET_BACKEND=$backend go test -race -count=1 ./...
	step "interop: quic-go and grpc-go over gonet (KSOCKET_BACKEND=$backend)"
	(cd interop && KSOCKET_BACKEND=$backend go test -race -count=1 ./...)
	step "nettest conformance, 5 times (KSOCKET_BACKEND=$backend)"
	KSOCKET_BACKEND=$backend go test -race -count=5 -run '^TestNettest' ./gonet
	# Without -race, whose own memory would hide an RSS leak; the soak
	# passes under -race too (go test -race ... -soak=30s).
	# At GOMAXPROCS=2, whatever the machine: ops migrate between the Ps
	# (and, on uring, between rings' reapers) while the counts must hold.
	step "soak, 30 s, 1,000 connections of echo and HTTP and 16 UDP flows, GOMAXPROCS=2 (KSOCKET_BACKEND=$backend)"
	GOMAXPROCS=2 KSOCKET_BACKEND=$backend go test -count=1 -run '^TestSoak$' ./gonet -soak=30s
	# Also without -race, which enlarges every goroutine's stack.
	step "stack of an idle connection's reader vs net's (KSOCKET_BACKEND=$backend)"
	KSOCKET_BACKEND=$backend go test -count=1 -run '^TestIdleConnStack$' ./gonet
	# The runs above are at the machine's GOMAXPROCS; at 1 every ring,
	# reaper and waiter shares one P.
	step "go test -race -short, GOMAXPROCS=1 (KSOCKET_BACKEND=$backend)"
	GOMAXPROCS=1 KSOCKET_BACKEND=$backend go test -race -short -count=1 ./...
	(cd interop && GOMAXPROCS=1 KSOCKET_BACKEND=$backend go test -race -short -count=1 ./...)
done

# Older kernels, emulated: KSOCKET_FEATURES masks every ring op and setup
# flag newer than the version, and the masked calls become plain syscalls.
for profile in 5.19 6.1 6.11; do
	step "go test -short, and interop (KSOCKET_BACKEND=uring KSOCKET_FEATURES=$profile)"
	KSOCKET_BACKEND=uring KSOCKET_FEATURES=$profile go test -short -count=1 ./...
	(cd interop && KSOCKET_BACKEND=uring KSOCKET_FEATURES=$profile go test -short -count=1 ./...)
done
# No profile masks IORING_OP_SPLICE (5.7): the copies' fallback to
# splice(2) on the uring backend, and SendFile's sendfile(2) at one P,
# run here (at two Ps SendFile makes sendfile(2) in every run).
step "zero-copy copies without the ring's splice op (KSOCKET_BACKEND=uring KSOCKET_FEATURES=-SPLICE)"
KSOCKET_BACKEND=uring KSOCKET_FEATURES=-SPLICE go test -race -count=1 -run 'ReadFrom|WriteTo|Splice|SendFile|ServeFile|Example' ./gonet ./internal/engine

# Every fuzz target for about 10 s, given as a count of inputs: a
# -fuzztime duration trips Go 1.26's fuzz coordinator, which can report
# its own deadline as a failure (go.dev/issue/75804, fixed in Go 1.27).
# Longer runs: the same command with a larger count, or -fuzztime 10m
# where a stray "context deadline exceeded" at the end can be ignored.
fuzz() { # package target count
	step "fuzz $2 ($1), $3 inputs"
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$3" "$1"
}
fuzz . FuzzCallSequence 80000x
fuzz . FuzzDifferentialSequence 6000x
fuzz . FuzzMmsgDifferential 5000x
fuzz ./cmd/ksocket FuzzCLIArgs 150000x
fuzz ./cmd/ksocket FuzzParseURL 150000x
fuzz ./internal/engine FuzzSockaddr 500000x
fuzz ./internal/resolv FuzzParseHosts 400000x
for target in FuzzParseServices FuzzLookup FuzzInetAtonExact FuzzDNSAnswer FuzzParseResolvConf; do
	fuzz ./internal/resolv $target 500000x
done
# Every target above is listed: a new one must be added here.
listed=$(sed -n 's/^fuzz [^ ]* \(Fuzz[A-Za-z]*\) .*/\1/p; s/^for target in \(.*\); do$/\1/p' "$0" | tr ' ' '\n' | sort)
found=$(grep -rhoE '^func Fuzz[A-Za-z0-9_]*' --include='*_test.go' . | sed 's/^func //' | sort)
if [ "$listed" != "$found" ]; then
	echo "scripts/test.sh: the fuzz targets listed differ from those in the code:" >&2
	diff <(echo "$listed") <(echo "$found") >&2
	exit 1
fi
echo "== all tests passed"
