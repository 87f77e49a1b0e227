//go:build linux

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ksocket-go/ksocket"
	"golang.org/x/sys/unix"
)

func init() {
	commands = append(commands, &command{
		name:    "probe",
		summary: "show what this kernel supports, the backend in use and why",
		setFlags: func(fs *flag.FlagSet) func([]string) error {
			asJSON := fs.Bool("json", false, "print JSON: {kernel, backend, reason, errno, setup_flags[], ops{NAME: ring|syscall}, masked[], inline_wait, polled_wait, rings, ring_sizes, restricted, allowed_ops[]}")
			return func(args []string) error {
				if len(args) > 0 {
					return usageErrorf("takes no arguments")
				}
				return probe(*asJSON)
			}
		},
	})
}

type probeJSON struct {
	Kernel     string            `json:"kernel"`
	Backend    string            `json:"backend"`
	Reason     string            `json:"reason"`
	Errno      string            `json:"errno"`
	SetupFlags []string          `json:"setup_flags"`
	Ops        map[string]string `json:"ops"`
	Masked     []string          `json:"masked,omitempty"`
	InlineWait string            `json:"inline_wait,omitempty"`
	PolledWait string            `json:"polled_wait,omitempty"`
	Rings      int               `json:"rings,omitempty"`
	RingSizes  string            `json:"ring_sizes,omitempty"`
	Restricted string            `json:"restricted,omitempty"`
	AllowedOps []string          `json:"allowed_ops,omitempty"`
}

func probe(asJSON bool) error {
	inf, err := ksocket.Probe()
	errno := ""
	if inf.SetupErrno != 0 {
		errno = unix.ErrnoName(inf.SetupErrno)
	}
	if asJSON {
		ops := map[string]string{}
		for _, c := range inf.RingCalls {
			ops[c] = "ring"
		}
		for _, c := range inf.SysCalls {
			ops[c] = "syscall"
		}
		flags := inf.SetupFlags
		if flags == nil {
			flags = []string{}
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if e := enc.Encode(probeJSON{inf.Kernel, inf.Backend, inf.Reason, errno, flags, ops, inf.Masked, inf.InlineWait, inf.PolledWait, inf.Rings, inf.RingSizes, inf.Restricted, inf.AllowedOps}); e != nil {
			return e
		}
	} else {
		uring := "available"
		switch {
		case inf.SetupErrno != 0:
			uring = fmt.Sprintf("unavailable: io_uring_setup failed with %s (%v)", errno, inf.SetupErrno)
		case inf.Backend != "uring":
			uring = "not used"
		}
		fmt.Printf("kernel:       %s\n", inf.Kernel)
		fmt.Printf("io_uring:     %s\n", uring)
		fmt.Printf("backend:      %s (%s)\n", inf.Backend, inf.Reason)
		if inf.Backend == "uring" {
			fmt.Printf("setup flags:  %s\n", orNone(inf.SetupFlags))
			fmt.Printf("rings:        %d (%s; one per P at start-up, KSOCKET_RINGS sets it)\n", inf.Rings, inf.RingSizes)
			hint := ""
			if inf.InlineWait == "off" {
				hint = " (KSOCKET_INLINE_WAIT=1ms turns it on)"
			}
			fmt.Printf("inline wait:  %s%s\n", inf.InlineWait, hint)
			fmt.Printf("polled wait:  %s\n", inf.PolledWait)
			fmt.Printf("restricted:   %s\n", inf.Restricted)
			if len(inf.AllowedOps) > 0 {
				fmt.Printf("allowed ops:  %s\n", orNone(inf.AllowedOps))
			}
		}
		fmt.Printf("masked:       %s\n", orNone(inf.Masked))
		fmt.Printf("ring ops:     %s\n", orNone(inf.RingCalls))
		fmt.Printf("syscalls:     %s\n", orNone(inf.SysCalls))
	}
	if err != nil {
		return exitError{1, oneLine(err.Error())}
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, " ")
}
