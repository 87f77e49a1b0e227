//go:build linux

package engine

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FuzzSockaddr checks the engine's sockaddr encoding, which every bind,
// connect and sendto hands to the kernel, against x/sys/unix's (the model:
// its sockaddr methods, copied below because they are unexported), and
// checks that decoding gives the address back. Then it decodes arbitrary
// bytes of arbitrary length, which must never panic or read past the
// struct.
func FuzzSockaddr(f *testing.F) {
	f.Add(uint8(0), 80, []byte{127, 0, 0, 1}, uint32(0), "", []byte{2, 0, 0, 80, 127, 0, 0, 1}, uint32(16))
	f.Add(uint8(1), 65535, []byte{15: 1}, uint32(3), "", []byte{10, 0}, uint32(28))
	f.Add(uint8(0), 65536, []byte{1}, uint32(0), "", []byte{}, uint32(0))
	f.Add(uint8(1), -1, []byte{}, uint32(0), "", []byte{1, 0, '/', 't'}, uint32(5))
	f.Add(uint8(2), 0, []byte{}, uint32(0), "/tmp/sock", []byte{1, 0, 0, 'a', 'b'}, uint32(5))
	f.Add(uint8(2), 0, []byte{}, uint32(0), "@abstract", []byte{1, 0}, uint32(2))
	f.Add(uint8(2), 0, []byte{}, uint32(0), "@", []byte{1, 0, 0}, uint32(3))
	f.Add(uint8(2), 0, []byte{}, uint32(0), strings.Repeat("x", 107), []byte{1, 0}, uint32(200))
	f.Add(uint8(2), 0, []byte{}, uint32(0), "@"+strings.Repeat("x", 107), []byte{1, 0}, uint32(110))
	f.Add(uint8(2), 0, []byte{}, uint32(0), "a\x00b", []byte{1, 0}, uint32(1))
	f.Add(uint8(3), 0, []byte{}, uint32(0), "", []byte{0xff, 0xff}, uint32(1<<31))
	f.Add(uint8(4), 0, []byte{}, uint32(0), "", []byte{17, 0}, uint32(20))
	f.Fuzz(func(t *testing.T, kind uint8, port int, addr []byte, zone uint32, name string, raw []byte, n uint32) {
		var sa unix.Sockaddr
		switch kind % 5 {
		case 0:
			a := &unix.SockaddrInet4{Port: port}
			copy(a.Addr[:], addr)
			sa = a
		case 1:
			a := &unix.SockaddrInet6{Port: port, ZoneId: zone}
			copy(a.Addr[:], addr)
			sa = a
		case 2:
			sa = &unix.SockaddrUnix{Name: name}
		case 3:
			sa = nil
		case 4:
			sa = &unix.SockaddrLinklayer{Ifindex: port}
		}
		checkDecoding(t, raw, n)
		checkEncoding(t, sa)
	})
}

// checkEncoding compares putSockaddr with the model and decodes the result.
func checkEncoding(t *testing.T, sa unix.Sockaddr) {
	var got unix.RawSockaddrAny
	// Garbage first: putSockaddr must clear what it does not write.
	for i := range got.Pad {
		got.Pad[i] = -1
	}
	gotLen, gotErr := putSockaddr(sa, &got)
	want, wantLen, wantErr := modelSockaddr(sa)
	if u, ok := sa.(*unix.SockaddrUnix); ok {
		if dev := unixDeviation(u.Name); dev != "" {
			t.Skipf("%q: %s", u.Name, dev)
		}
	}
	if gotErr != wantErr {
		t.Fatalf("putSockaddr(%#v) error %v, x/sys/unix %v", sa, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	gb := (*[unix.SizeofSockaddrAny]byte)(unsafe.Pointer(&got))[:]
	wb := (*[unix.SizeofSockaddrAny]byte)(unsafe.Pointer(&want))[:]
	if gotLen != wantLen || !bytes.Equal(gb[:gotLen], wb[:wantLen]) {
		t.Fatalf("putSockaddr(%#v) = % x (%d), x/sys/unix % x (%d)", sa, gb[:gotLen], gotLen, wb[:wantLen], wantLen)
	}
	if !allZero(gb[gotLen:]) {
		t.Fatalf("putSockaddr(%#v) left bytes past its length %d: % x", sa, gotLen, gb[gotLen:])
	}
	back := sockaddrFrom(&got, gotLen)
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		if b, ok := back.(*unix.SockaddrInet4); !ok || *b != *sa {
			t.Fatalf("round trip of %#v gave %#v", sa, back)
		}
	case *unix.SockaddrInet6:
		if b, ok := back.(*unix.SockaddrInet6); !ok || *b != *sa {
			t.Fatalf("round trip of %#v gave %#v", sa, back)
		}
	case *unix.SockaddrUnix:
		b, ok := back.(*unix.SockaddrUnix)
		if !ok {
			t.Fatalf("round trip of %#v gave %#v", sa, back)
		}
		want := sa.Name
		switch {
		case strings.HasPrefix(want, "@"):
		case strings.HasPrefix(want, "\x00"):
			want = "@" + want[1:] // abstract, spelled with the NUL itself
		default:
			// A pathname ends at its first NUL, for the kernel too.
			want, _, _ = strings.Cut(want, "\x00")
		}
		if b.Name != want {
			t.Fatalf("round trip of %q gave %q, want %q", sa.Name, b.Name, want)
		}
	}
}

// unixDeviation says where the engine knowingly differs from x/sys/unix
// for an AF_UNIX name, or "".
func unixDeviation(name string) string {
	switch {
	case len(name) == len(unix.RawSockaddrUnix{}.Path) && name[0] == '@':
		// The kernel takes a 107-byte abstract name (addrlen 110 =
		// sizeof(struct sockaddr_un)); x/sys/unix refuses it.
		return "a 107-byte abstract name, which the kernel accepts and x/sys/unix refuses"
	}
	return ""
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// checkDecoding decodes arbitrary bytes with an arbitrary length.
func checkDecoding(t *testing.T, raw []byte, n uint32) {
	var any unix.RawSockaddrAny
	copy((*[unix.SizeofSockaddrAny]byte)(unsafe.Pointer(&any))[:], raw)
	sa := sockaddrFrom(&any, n)
	switch sa := sa.(type) {
	case nil:
	case *unix.SockaddrInet4:
		if n < unix.SizeofSockaddrInet4 || any.Addr.Family != unix.AF_INET || sa.Port < 0 || sa.Port > 0xFFFF {
			t.Fatalf("decoded % x (n=%d) as %#v", raw, n, sa)
		}
	case *unix.SockaddrInet6:
		if n < unix.SizeofSockaddrInet6 || any.Addr.Family != unix.AF_INET6 || sa.Port < 0 || sa.Port > 0xFFFF {
			t.Fatalf("decoded % x (n=%d) as %#v", raw, n, sa)
		}
	case *unix.SockaddrUnix:
		if any.Addr.Family != unix.AF_UNIX || len(sa.Name) > len(unix.RawSockaddrUnix{}.Path) {
			t.Fatalf("decoded % x (n=%d) as %#v", raw, n, sa)
		}
	default:
		t.Fatalf("decoded % x (n=%d) as a %T", raw, n, sa)
	}
}

// modelSockaddr is x/sys/unix's encoding (syscall_linux.go, v0.50.0:
// SockaddrInet4.sockaddr, SockaddrInet6.sockaddr, SockaddrUnix.sockaddr),
// with its errors.
func modelSockaddr(sa unix.Sockaddr) (unix.RawSockaddrAny, uint32, error) {
	var raw unix.RawSockaddrAny
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		if sa.Port < 0 || sa.Port > 0xFFFF {
			return raw, 0, unix.EINVAL
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&raw))
		p.Family = unix.AF_INET
		pp := (*[2]byte)(unsafe.Pointer(&p.Port))
		pp[0], pp[1] = byte(sa.Port>>8), byte(sa.Port)
		p.Addr = sa.Addr
		return raw, unix.SizeofSockaddrInet4, nil
	case *unix.SockaddrInet6:
		if sa.Port < 0 || sa.Port > 0xFFFF {
			return raw, 0, unix.EINVAL
		}
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&raw))
		p.Family = unix.AF_INET6
		pp := (*[2]byte)(unsafe.Pointer(&p.Port))
		pp[0], pp[1] = byte(sa.Port>>8), byte(sa.Port)
		p.Scope_id = sa.ZoneId
		p.Addr = sa.Addr
		return raw, unix.SizeofSockaddrInet6, nil
	case *unix.SockaddrUnix:
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(&raw))
		name := sa.Name
		n := len(name)
		if n >= len(p.Path) {
			return raw, 0, unix.EINVAL
		}
		p.Family = unix.AF_UNIX
		for i := range n {
			p.Path[i] = int8(name[i])
		}
		sl := uint32(2)
		if n > 0 {
			sl += uint32(n) + 1
		}
		if p.Path[0] == '@' || (p.Path[0] == 0 && sl > 3) {
			p.Path[0] = 0
			sl--
		}
		return raw, sl, nil
	case nil:
		return raw, 0, unix.EINVAL // the engine's answer; x/sys/unix would panic
	}
	return raw, 0, unix.EAFNOSUPPORT
}
