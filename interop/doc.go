// Package interop holds tests that run third-party libraries over gonet:
// quic-go on gonet UDP sockets, and grpc-go served on a gonet listener and
// dialed through a gonet Dialer. It is a module of its own, as bench is,
// so that the library's module needs none of their dependencies.
package interop
