// Package interop holds tests that run third-party libraries over gonet:
// quic-go on a gonet UDP socket. It is a module of its own, as bench is,
// so that the library's module needs none of their dependencies.
package interop
