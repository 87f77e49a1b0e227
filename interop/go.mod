module github.com/ksocket-go/ksocket/interop

go 1.26.8

require (
	github.com/ksocket-go/ksocket v0.0.0
	github.com/quic-go/quic-go v0.65.0
	golang.org/x/net v0.63.0
	golang.org/x/sys v0.50.0
	google.golang.org/grpc v1.85.0
)

require (
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/ksocket-go/ksocket => ../
