module github.com/ksocket-go/ksocket/interop

go 1.26.8

require (
	github.com/ksocket-go/ksocket v0.0.0
	github.com/quic-go/quic-go v0.65.0
	golang.org/x/net v0.63.0
)

require (
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/ksocket-go/ksocket => ../
