module github.com/ksocket-go/ksocket

go 1.26.8

require (
	github.com/mccutchen/go-httpbin/v2 v2.26.0
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)
