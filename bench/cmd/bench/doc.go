// Command bench measures TCP echo servers side by side: the peers, Go's net
// (a goroutine per connection) and gnet v2, and ksocket's engines, berkeley,
// gonet and loop. Each server runs in its own process pinned to CPU 0 with
// GOMAXPROCS=1, under a Go net load generator pinned to CPU 1. Rounds
// alternate between the servers, and the report gives the median of each
// figure over the rounds, as a markdown table and an SVG chart.
//
//	cd bench && go run ./cmd/bench              # the whole matrix, about 15 minutes
//	cd bench && go run ./cmd/bench --quick      # about a minute
//	cd bench && go run ./cmd/bench --help
//
// The same binary is the server ("bench server -impl loop") and the load
// generator ("bench load -addr …"), so one build is measured everywhere.
// The run mode drives both through a line protocol on their standard input
// and output, so that the load's counts and latencies and the server's CPU
// time from /proc/PID/stat cover the same window. Syscalls are counted by
// perf in a short window of their own just after it, because the
// raw_syscalls tracepoint slows every syscall it counts.
package main
