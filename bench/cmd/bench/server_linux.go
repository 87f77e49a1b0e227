package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"

	"github.com/ksocket-go/ksocket"
	"github.com/ksocket-go/ksocket/gonet"
	"github.com/ksocket-go/ksocket/loop"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// serverImpls are the servers "bench server" runs, peers first.
var serverImpls = []string{"net", "gnet", "berkeley", "gonet", "loop"}

// peers are the servers each ksocket engine is compared with.
var peers = []string{"net", "gnet"}

// serverMain runs one echo server on 127.0.0.1 and an ephemeral port, and
// prints the address it listens on as its first line of output.
func serverMain(args []string) {
	fs := flag.NewFlagSet("bench server", flag.ContinueOnError)
	impl := fs.String("impl", "net", "the server: net, gnet, berkeley, gonet or loop")
	size := fs.Int("size", 64, "message size; the goroutine servers read into 16×size buffers")
	nofile := fs.Int("nofile", 0, "raise RLIMIT_NOFILE to at least this (0: to the hard limit)")
	udp := fs.Bool("udp", false, "echo datagrams instead (net, net-mmsg, berkeley, berkeley-single, gonet, gonet-batch, loop)")
	web := fs.Bool("http", false, "serve net/http instead of echo (net and gonet): /13b, /64k, and /file, 1 MiB with http.ServeFile")
	parseFlags(fs, args, "bench server [flags]\n\nRuns one echo server and prints its address.")
	check(raiseNofile(*nofile))
	if *web {
		httpServer(*impl)
		return
	}
	if *udp {
		udpServer(*impl)
		return
	}
	switch *impl {
	case "net", "gonet":
		listen := net.Listen
		if *impl == "gonet" {
			listen = gonet.Listen
		}
		ln, err := listen("tcp", "127.0.0.1:0")
		check(err)
		fmt.Println(ln.Addr().String())
		for {
			c, err := ln.Accept()
			check(err)
			go func() {
				defer c.Close()
				buf := make([]byte, *size*16)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	case "gnet":
		// One event loop per P (multicore at GOMAXPROCS above 1),
		// edge-triggered reads, and the echo from gnet's own examples.
		err := gnet.Run(&gnetEcho{}, "tcp://127.0.0.1:0",
			gnet.WithMulticore(runtime.GOMAXPROCS(0) > 1),
			gnet.WithEdgeTriggeredIO(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(quietLogger{}))
		check(err)
	case "loop":
		h := loop.Handlers{Data: func(c *loop.Conn, data []byte) { c.Write(data) }}
		// Receive buffers as large as the goroutine servers' read buffers
		// (16×size, at least loop's default 4 KiB), fewer when large.
		cfg := &loop.Config{BufferSize: max(16**size, 4096), Buffers: 1024}
		if cfg.BufferSize > 16<<10 {
			cfg.Buffers = 256
		}
		s, err := loop.Listen("tcp4", "127.0.0.1:0", h, cfg)
		check(err)
		fmt.Println(s.Addr().String())
		check(s.Serve())
	case "berkeley":
		ls, err := ksocket.SocketListen(unix.AF_INET, unix.SOCK_STREAM, 0)
		check(err)
		check(ksocket.Bind(ls, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
		check(ksocket.Listen(ls, 4096))
		sa, err := ksocket.Getsockname(ls)
		check(err)
		fmt.Printf("127.0.0.1:%d\n", sa.(*unix.SockaddrInet4).Port)
		for {
			c, _, err := ksocket.Accept(ls)
			check(err)
			ksocket.SetsockoptInt(c, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
			go func() {
				defer ksocket.Closesocket(c)
				buf := make([]byte, *size*16)
				for {
					n, err := ksocket.Recv(c, buf, 0)
					if err != nil || n == 0 {
						return
					}
					if _, err := ksocket.Send(c, buf[:n], 0); err != nil {
						return
					}
				}
			}()
		}
	default:
		fatalf("server: unknown -impl %q: want one of %v", *impl, serverImpls)
	}
}

// gnetEcho is gnet's echo server.
type gnetEcho struct {
	gnet.BuiltinEventEngine
}

// OnBoot prints the listener's address: gnet binds before it boots.
func (*gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	fd, err := eng.Dup()
	check(err)
	sa, err := unix.Getsockname(fd)
	unix.Close(fd)
	check(err)
	fmt.Printf("127.0.0.1:%d\n", sa.(*unix.SockaddrInet4).Port)
	return gnet.None
}

func (*gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	c.Write(buf)
	return gnet.None
}

// quietLogger drops gnet's chatter and keeps its errors, on stderr.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench server: gnet: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	fatalf("server: gnet: "+format, args...)
}

// raiseNofile raises RLIMIT_NOFILE's soft limit to the hard limit, and both
// to need when the hard limit is lower (which needs CAP_SYS_RESOURCE).
func raiseNofile(need int) error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Max < uint64(need) {
		want := unix.Rlimit{Cur: uint64(need), Max: uint64(need)}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
			return fmt.Errorf("RLIMIT_NOFILE: hard limit %d is below the %d descriptors needed (raise it with 'ulimit -Hn', or lower -idle-conns): %w", rl.Max, need, err)
		}
		return nil
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		return unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	}
	return nil
}

// parseFlags parses args for fs: --help prints usage to stdout and exits 0;
// a bad flag is one line on stderr and exit status 2.
func parseFlags(fs *flag.FlagSet, args []string, usage string) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stdout)
		fmt.Println(usage)
		fmt.Println("\nFlags:")
		fs.PrintDefaults()
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v (see --help)\n", fs.Name(), err)
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument %q (see --help)\n", fs.Name(), fs.Arg(0))
		os.Exit(2)
	}
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

// fatalf prints one line to stderr and exits 1.
func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

// httpServer serves the HTTP points' handler on net or gonet: a 13 B and a
// 64 KiB response, and a 1 MiB file through http.ServeFile. The file is
// made, opened and unlinked at start, and served as /proc/self/fd/N, so
// that each request opens its own description of it and a killed server
// leaves nothing behind.
func httpServer(impl string) {
	listen := net.Listen
	switch impl {
	case "net":
	case "gonet":
		listen = gonet.Listen
	default:
		fatalf("server: -http serves net/http on net or gonet, not %s", impl)
	}
	f, err := os.CreateTemp("", "ksocket-bench-file-")
	check(err)
	_, err = f.Write(bytes.Repeat([]byte("ksocket "), 1<<20/8))
	check(err)
	check(os.Remove(f.Name()))
	file := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	small, big := []byte("Hello, world!"), bytes.Repeat([]byte("x"), 64<<10)
	mux := http.NewServeMux()
	mux.HandleFunc("/13b", func(w http.ResponseWriter, _ *http.Request) { w.Write(small) })
	mux.HandleFunc("/64k", func(w http.ResponseWriter, _ *http.Request) { w.Write(big) })
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, file) })
	ln, err := listen("tcp", "127.0.0.1:0")
	check(err)
	fmt.Println(ln.Addr().String())
	check(http.Serve(ln, mux))
	// f must stay reachable while served: its finalizer would close the
	// descriptor that /proc/self/fd names.
	runtime.KeepAlive(f)
}
