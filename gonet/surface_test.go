//go:build linux

package gonet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
)

// TestSurfaceMatchesNet checks that every exported method of net's
// connection, listener, Dialer and ListenConfig types has a counterpart
// here with net's signature (net's types mapped to gonet's), and every
// exported field of Dialer and ListenConfig one of net's type. A Go
// release that adds to net fails it until gonet follows. The one
// exception is named: raw IP sockets (DialIP) are not part of gonet.
func TestSurfaceMatchesNet(t *testing.T) {
	missingOK := map[string]bool{"Dialer.DialIP": true}
	pairs := []struct {
		name     string
		net, our any
	}{
		{"TCPConn", (*net.TCPConn)(nil), (*TCPConn)(nil)},
		{"UDPConn", (*net.UDPConn)(nil), (*UDPConn)(nil)},
		{"UnixConn", (*net.UnixConn)(nil), (*UnixConn)(nil)},
		{"TCPListener", (*net.TCPListener)(nil), (*TCPListener)(nil)},
		{"UnixListener", (*net.UnixListener)(nil), (*UnixListener)(nil)},
		{"Dialer", (*net.Dialer)(nil), (*Dialer)(nil)},
		{"ListenConfig", (*net.ListenConfig)(nil), (*ListenConfig)(nil)},
	}
	for _, p := range pairs {
		nt, ot := reflect.TypeOf(p.net), reflect.TypeOf(p.our)
		for i := range nt.NumMethod() {
			m := nt.Method(i)
			om, ok := ot.MethodByName(m.Name)
			if !ok {
				if !missingOK[p.name+"."+m.Name] {
					t.Errorf("%s has no method %s", p.name, m.Name)
				}
				continue
			}
			if want, got := signature(m.Type, true), signature(om.Type, false); want != got {
				t.Errorf("%s.%s is %s; net's, with gonet's types, is %s", p.name, m.Name, got, want)
			}
		}
		if nt.Elem().Kind() != reflect.Struct || p.name == "TCPConn" || p.name == "UDPConn" || p.name == "UnixConn" || p.name == "TCPListener" || p.name == "UnixListener" {
			continue
		}
		for i := range nt.Elem().NumField() {
			f := nt.Elem().Field(i)
			if !f.IsExported() {
				continue
			}
			if of, ok := ot.Elem().FieldByName(f.Name); !ok {
				t.Errorf("%s has no field %s", p.name, f.Name)
			} else if of.Type != f.Type {
				t.Errorf("%s.%s is %v; net's is %v", p.name, f.Name, of.Type, f.Type)
			}
		}
	}
}

// gonetFor maps net's types to gonet's, for comparing signatures.
var gonetFor = map[reflect.Type]reflect.Type{
	reflect.TypeFor[*net.TCPConn]():      reflect.TypeFor[*TCPConn](),
	reflect.TypeFor[*net.UDPConn]():      reflect.TypeFor[*UDPConn](),
	reflect.TypeFor[*net.UnixConn]():     reflect.TypeFor[*UnixConn](),
	reflect.TypeFor[*net.TCPListener]():  reflect.TypeFor[*TCPListener](),
	reflect.TypeFor[*net.UnixListener](): reflect.TypeFor[*UnixListener](),
}

// signature renders a method type without its receiver; with mapNet,
// net's types become gonet's.
func signature(ft reflect.Type, mapNet bool) string {
	name := func(t reflect.Type) string {
		if g, ok := gonetFor[t]; ok && mapNet {
			t = g
		}
		return t.String()
	}
	s := "func("
	for i := 1; i < ft.NumIn(); i++ {
		if i > 1 {
			s += ", "
		}
		s += name(ft.In(i))
	}
	s += ") ("
	for i := range ft.NumOut() {
		if i > 0 {
			s += ", "
		}
		s += name(ft.Out(i))
	}
	return s + ")"
}

// TestDialerTypedWithNet runs Dialer.DialTCP, DialUDP and DialUnix against
// net's, with the zero local address, and with a network each refuses.
func TestDialerTypedWithNet(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAndClose(ln)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	path := filepath.Join(t.TempDir(), "s")
	ul, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	go acceptAndClose(ul)
	tcpTo := ln.Addr().(*net.TCPAddr).AddrPort()
	udpTo := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	describe := func(c net.Conn, err error) string {
		if err != nil {
			return "error " + err.Error()
		}
		defer c.Close()
		return fmt.Sprintf("%T-ish to %v", c.RemoteAddr(), c.RemoteAddr())
	}
	var got [2][]string
	for i := range 2 {
		var out []string
		if i == 0 {
			d := &net.Dialer{}
			c1, e1 := d.DialTCP(ctx, "tcp4", netip.AddrPort{}, tcpTo)
			c2, e2 := d.DialUDP(ctx, "udp4", netip.AddrPort{}, udpTo)
			c3, e3 := d.DialUnix(ctx, "unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
			_, e4 := d.DialTCP(ctx, "udp", netip.AddrPort{}, tcpTo)
			_, e5 := d.DialUnix(ctx, "unix", nil, nil)
			out = append(out, describe(c1, e1), describe(c2, e2), describe(c3, e3), fmt.Sprint(e4), fmt.Sprint(e5))
		} else {
			d := &Dialer{}
			c1, e1 := d.DialTCP(ctx, "tcp4", netip.AddrPort{}, tcpTo)
			c2, e2 := d.DialUDP(ctx, "udp4", netip.AddrPort{}, udpTo)
			c3, e3 := d.DialUnix(ctx, "unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
			_, e4 := d.DialTCP(ctx, "udp", netip.AddrPort{}, tcpTo)
			_, e5 := d.DialUnix(ctx, "unix", nil, nil)
			out = append(out, describe(c1, e1), describe(c2, e2), describe(c3, e3), fmt.Sprint(e4), fmt.Sprint(e5))
		}
		got[i] = out
	}
	for j := range got[0] {
		if got[0][j] != got[1][j] {
			t.Errorf("call %d: net %s; gonet %s", j, got[0][j], got[1][j])
		}
	}
}
