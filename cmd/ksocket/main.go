// Command ksocket is the command-line face of the ksocket library: the seed's
// demo, an HTTP GET, netcat-style listen and send, an echo server, a probe of
// what this kernel supports, and a benchmark runner.
//
// Every subcommand takes -h or --help. Flags come before positional
// arguments. Errors are one line on stderr and exit status 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
)

// version is the release; builds from a checkout add their VCS state.
const version = "0.1.0-dev"

type command struct {
	name     string
	args     string // positional arguments, for the usage line
	summary  string // one line, for the command list
	long     string // more, for --help
	anyOS    bool   // runs outside Linux too
	passArgs bool   // takes its arguments unparsed: bench hands them on
	setFlags func(fs *flag.FlagSet) func(args []string) error
}

// commands is filled by the platform files; commandOrder is how usage
// lists them.
var commands []*command

var commandOrder = []string{"demo", "get", "listen", "send", "echo", "probe", "bench", "version"}

func usage(w io.Writer) {
	fmt.Fprintf(w, "ksocket: Berkeley sockets for Go on io_uring\n\nUsage:\n  ksocket COMMAND [flags] [arguments]\n\nCommands:\n")
	for _, name := range commandOrder {
		for _, c := range commands {
			if c.name == name {
				fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
			}
		}
	}
	fmt.Fprintf(w, "\nRun 'ksocket COMMAND --help' for a command's flags. Flags come before arguments.\n")
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 1
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		usage(stdout)
		return 0
	}
	var cmd *command
	for _, c := range commands {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "ksocket: unknown command %q\nsee 'ksocket --help'\n", name)
		return 1
	}
	fs := flag.NewFlagSet("ksocket "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	body := cmd.setFlags(fs)
	fs.Usage = func() {}
	printHelp := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: ksocket %s [flags] %s\n\n%s\n", name, cmd.args, cmd.summary)
		if cmd.long != "" {
			fmt.Fprintf(w, "\n%s\n", cmd.long)
		}
		if hasFlags(fs) {
			fmt.Fprintf(w, "\nFlags (before the arguments):\n")
			fs.SetOutput(w)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
	}
	if !cmd.anyOS && !linux && !slices.ContainsFunc(args[1:], isHelpFlag) {
		// Before the flags: elsewhere the commands declare none of them.
		fmt.Fprintf(stderr, "ksocket %s: needs Linux (io_uring or epoll); this is %s\n", name, goos)
		return 1
	}
	if cmd.passArgs && len(args) > 1 && !isHelpFlag(args[1]) {
		// Hand everything on, flags included.
	} else if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "ksocket %s: %v\nsee 'ksocket %s --help'\n", name, err, name)
		return 1
	}
	if !cmd.anyOS && !linux {
		fmt.Fprintf(stderr, "ksocket %s: needs Linux (io_uring or epoll); this is %s\n", name, goos)
		return 1
	}
	if !cmd.anyOS {
		// Without a backend every socket call fails with a bare errno; say
		// why instead (KSOCKET_BACKEND=uring without io_uring, a bad
		// KSOCKET_BACKEND or KSOCKET_FEATURES).
		if err := backendError(); err != nil && name != "probe" {
			fmt.Fprintf(stderr, "ksocket %s: %s\n", name, oneLine(err.Error()))
			return 1
		}
	}
	rest := fs.Args()
	if cmd.passArgs {
		rest = args[1:]
	}
	if err := body(rest); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "ksocket %s: %s\nsee 'ksocket %s --help'\n", name, ue.msg, name)
			return 1
		}
		var ee exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintf(stderr, "ksocket %s: %s\n", name, ee.msg)
			}
			return ee.code
		}
		fmt.Fprintf(stderr, "ksocket %s: %s\n", name, oneLine(err.Error()))
		return 1
	}
	return 0
}

// exitError ends a command with a status and an optional message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

func init() {
	commands = append(commands, &command{
		name: "version", summary: "print the version", anyOS: true,
		setFlags: func(fs *flag.FlagSet) func([]string) error {
			return func(args []string) error {
				if len(args) > 0 {
					return usageErrorf("takes no arguments")
				}
				fmt.Println("ksocket", versionString())
				return nil
			}
		},
	})
}
