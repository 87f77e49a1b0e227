module github.com/ksocket-go/ksocket/bench

go 1.26.8

require (
	github.com/ksocket-go/ksocket v0.0.0
	golang.org/x/sys v0.50.0
)

replace github.com/ksocket-go/ksocket => ../
