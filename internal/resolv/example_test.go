//go:build linux

package resolv_test

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ksocket-go/ksocket/internal/resolv"
)

func ExampleLookup() {
	hints := &resolv.Addrinfo{Family: unix.AF_UNSPEC, Socktype: unix.SOCK_STREAM, Flags: resolv.AI_NUMERICHOST | resolv.AI_CANONNAME}
	res, err := resolv.Lookup(context.Background(), "127.1", "8080", hints)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ai := range res {
		sa := ai.Addr.(*unix.SockaddrInet4)
		fmt.Println(ai.Family == unix.AF_INET, sa.Addr, sa.Port, ai.Protocol == unix.IPPROTO_TCP, ai.Canonname)
	}

	_, err = resolv.Lookup(context.Background(), "localhost", "8080", hints)
	var ae *resolv.AddrinfoError
	if errors.As(err, &ae) && ae.Code == resolv.EAI_NONAME {
		fmt.Println(err)
	}
	// Output:
	// true [127 0 0 1] 8080 true 127.1
	// Name or service not known
}
