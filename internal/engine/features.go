//go:build linux

package engine

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// feature is one ring op or setup flag the engine can use, with the first
// kernel that has it. KSOCKET_FEATURES masks features to emulate an older
// kernel; a masked feature is really not used.
type feature struct {
	name  string
	major int
	minor int
}

// features lists what the engine probes for, oldest first.
var features = []feature{
	{"CLOSE", 5, 6},
	{"SPLICE", 5, 7},
	{"RESTRICTIONS", 5, 10}, // IORING_SETUP_R_DISABLED and IORING_REGISTER_RESTRICTIONS
	{"SUBMIT_ALL", 5, 18},
	{"SOCKET", 5, 19},
	{"COOP_TASKRUN", 5, 19},
	{"TASKRUN_FLAG", 5, 19},
	{"SINGLE_ISSUER", 6, 0},
	{"RECVMSG_MULTISHOT", 6, 0}, // with a provided buffer ring: QueueDatagrams
	{"DEFER_TASKRUN", 6, 1},
	{"SENDTO", 6, 1}, // IORING_OP_SEND with a destination address: the loop's UDP replies
	{"NO_SQARRAY", 6, 6},
	{"SOCKOPT", 6, 7}, // URING_CMD SETSOCKOPT/GETSOCKOPT
	{"ACCEPT_DONTWAIT", 6, 10},
	{"BIND", 6, 11},
	{"LISTEN", 6, 11},
}

// featureMask is the set of masked feature names.
type featureMask map[string]bool

// processMask is the process's KSOCKET_FEATURES, parsed once by Default;
// the loop reads it through Masked. (Tests call choose with other masks.)
var processMask featureMask

// Masked reports whether the process's KSOCKET_FEATURES masks feature
// name. It is meaningful once Default has run.
func Masked(name string) bool { return processMask[name] }

// Usable reports whether feature name is neither masked nor newer than the
// running kernel: for a feature no probe can see, such as an op's new
// field. It is meaningful once Default has run.
func Usable(name string) bool {
	for _, f := range features {
		if f.name == name {
			return !processMask[name] && kernelAtLeast(f.major, f.minor)
		}
	}
	return false
}

// parseFeatures reads a KSOCKET_FEATURES value: a kernel version ("5.19",
// "6.1", "6.11") masking everything newer, or a comma-separated list of
// "-NAME" tokens. An unknown token is an error.
func parseFeatures(v string) (featureMask, error) {
	m := featureMask{}
	v = strings.TrimSpace(v)
	if v == "" {
		return m, nil
	}
	if major, minor, ok := parseVersion(v); ok {
		for _, f := range features {
			if f.major > major || f.major == major && f.minor > minor {
				m[f.name] = true
			}
		}
		return m, nil
	}
	for tok := range strings.SplitSeq(v, ",") {
		tok = strings.TrimSpace(tok)
		name, ok := strings.CutPrefix(tok, "-")
		if !ok || !knownFeature(name) {
			return nil, fmt.Errorf("KSOCKET_FEATURES: unknown token %q: want a kernel version such as 5.19, 6.1 or 6.11, or -NAME with NAME one of %s", tok, featureNames())
		}
		m[name] = true
	}
	return m, nil
}

func parseVersion(v string) (int, int, bool) {
	a, b, ok := strings.Cut(v, ".")
	if !ok {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || major < 0 || minor < 0 {
		return 0, 0, false
	}
	return major, minor, true
}

func knownFeature(name string) bool {
	for _, f := range features {
		if f.name == name {
			return true
		}
	}
	return false
}

func featureNames() string {
	names := make([]string, len(features))
	for i, f := range features {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// ioUringDisabledPath is the sysctl the engine reads; tests point it at a
// file of their own.
var ioUringDisabledPath = "/proc/sys/kernel/io_uring_disabled"

// ioUringDisabled returns kernel.io_uring_disabled (Linux 6.6+), or 0 when
// the sysctl is absent.
func ioUringDisabled() int {
	b, err := os.ReadFile(ioUringDisabledPath)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return n
}

// kernelAtLeast compares the running kernel's release with major.minor.
func kernelAtLeast(major, minor int) bool {
	var maj, min int
	if _, err := fmt.Sscanf(kernelRelease(), "%d.%d", &maj, &min); err != nil {
		return false
	}
	return maj > major || maj == major && min >= minor
}
