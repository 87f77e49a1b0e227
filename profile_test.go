//go:build linux

package ksocket

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"testing"

	"github.com/ksocket-go/ksocket/internal/engine"
)

// profileTraced are the syscalls TestProfileMasksRingOps watches.
const profileTraced = "socket,bind,listen,connect,accept,accept4,sendto,recvfrom,sendmsg,recvmsg,setsockopt,getsockopt"

// profileTests say which socket syscalls a KSOCKET_FEATURES profile must
// make visible on this kernel (6.18, where every one of them has a ring op).
var profileTests = []struct {
	features string
	syscalls []string
}{
	{"", nil},
	{"6.11", nil},
	{"6.1", []string{"bind", "getsockopt", "listen", "setsockopt"}},
	{"5.19", []string{"bind", "getsockopt", "listen", "setsockopt"}},
	{"-BIND,-LISTEN,-DEFER_TASKRUN", []string{"bind", "listen"}},
	{"-SOCKET", []string{"socket"}},
}

// TestProfileMasksRingOps checks that a masked op is really not issued:
// under each profile, the calls of straceChild (every Berkeley call that has
// a ring op) run under strace -f, and exactly the masked ones show up as
// syscalls.
func TestProfileMasksRingOps(t *testing.T) {
	inf, _ := engine.Probe()
	if inf.Backend != "uring" {
		t.Skipf("backend is %s: the profiles are for uring", inf.Backend)
	}
	if len(inf.SysCalls) > 0 && !onlyNameCalls(inf.SysCalls) {
		t.Skipf("this kernel lacks ring ops for %v, so the default profile is not clean", inf.SysCalls)
	}
	strace := straceUsable(t)
	re := regexp.MustCompile(`^(?:\d+\s+)?(\w+)\(`)
	for _, tt := range profileTests {
		t.Run("KSOCKET_FEATURES="+tt.features, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "strace.out")
			cmd := exec.Command(strace, "-f", "-qq", "-e", "trace="+profileTraced, "-o", out,
				os.Args[0], "-test.run=^TestNoSocketSyscallsOnUring$", "-test.count=1")
			cmd.Env = append(os.Environ(), "KSOCKET_STRACE_CHILD=1", "KSOCKET_BACKEND=uring", "KSOCKET_FEATURES="+tt.features, "GORACE=atexit_sleep_ms=50")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("child under strace: %v\n%s", err, b)
			}
			trace, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, line := range bytes.Split(trace, []byte("\n")) {
				// getsockname(2), always a syscall, costs x/sys/unix a
				// getsockopt(SO_PROTOCOL) to tell L2TP from IPv4.
				if m := re.FindSubmatch(bytes.TrimSpace(line)); m != nil && !bytes.Contains(line, []byte("SO_PROTOCOL")) {
					seen[string(m[1])] = true
				}
			}
			var got []string
			for s := range seen {
				got = append(got, s)
			}
			sort.Strings(got)
			want := tt.syscalls
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("KSOCKET_FEATURES=%q: socket syscalls %v, want %v\n%s", tt.features, got, want, trace)
			}
		})
	}
}
