//go:build linux

package nouring

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func init() { ExecIfAsked() }

// TestDenyInChild installs the filter in a child for each errno and checks
// there that io_uring_setup fails with it while other calls still work.
func TestDenyInChild(t *testing.T) {
	if want := Active(); want != 0 {
		if got := Setup(); got != want {
			t.Fatalf("io_uring_setup under the filter = %v, want %v", got, want)
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("socket(2) under the filter: %v", err)
		}
		unix.Close(fd)
		return
	}
	if _, err := Filter(unix.EPERM); err != nil {
		t.Skip(err)
	}
	if e := Setup(); e != 0 {
		t.Logf("io_uring_setup already fails here (%v); the children still check their own errno", e)
	}
	for _, name := range []string{"EPERM", "ENOSYS", "EACCES"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDenyInChild$", "-test.v")
		cmd.Env = append(os.Environ(), EnvErrno+"="+name)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestDenyInChild") {
			t.Errorf("%s child: %v\n%s", name, err, out)
		}
	}
	// A bad name is refused with exit status 97.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), EnvErrno+"=EBOGUS")
	if err := cmd.Run(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 97 {
		t.Errorf("%s=EBOGUS: %v, want exit status 97", EnvErrno, err)
	}
}

func TestFilterRefusesBadErrno(t *testing.T) {
	for _, e := range []unix.Errno{0, 0x10000} {
		if _, err := Filter(e); err == nil {
			t.Errorf("Filter(%d) succeeded", e)
		}
	}
}
