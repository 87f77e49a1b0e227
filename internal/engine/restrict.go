//go:build linux && !android

package engine

import (
	"fmt"
	"slices"

	"github.com/ksocket-go/ksocket/internal/uring"
)

// Every ring of ksocket's, the engine's and each loop's, is created disabled
// (IORING_SETUP_R_DISABLED, Linux 5.10+) and enabled only after
// IORING_REGISTER_RESTRICTIONS has limited it to the opcodes and SQE flags
// that ksocket issues on this kernel, with no io_uring_register call left
// open. io_uring's record of kernel CVEs is why Docker, Android and ChromeOS
// block it; a ring that can only do socket I/O takes most of that surface
// out of reach of a bug in the program that owns it.
//
// The lists live beside the code that issues each op (the init functions
// that call engineUses, and the loop's RingOps), so a new op cannot be
// forgotten for long: on a restricted ring it fails with EACCES in every
// test that reaches it.

// RingOp is an op that code issues on a ring, with the KSOCKET_FEATURES
// name that gates it ("" when only the kernel's probe decides). A ring is
// allowed the op when the kernel has it and the feature is not masked: a
// masked op is then refused by the kernel itself.
type RingOp struct {
	Op      uint8
	Feature string
}

// engineOps are the ops the uring backend issues, collected from the files
// that issue them.
var engineOps []RingOp

// engineUses declares ops that the calling file issues.
func engineUses(ops ...RingOp) { engineOps = append(engineOps, ops...) }

// DisabledSetupFlag is the setup flag that creates a ring disabled, so that
// EnableRestricted can restrict it: IORING_SETUP_R_DISABLED, or 0 when
// KSOCKET_FEATURES masks RESTRICTIONS.
func DisabledSetupFlag() uint32 { return disabledSetupFlag(processMask) }

func disabledSetupFlag(mask featureMask) uint32 {
	if mask["RESTRICTIONS"] {
		return 0
	}
	return uring.IORING_SETUP_R_DISABLED
}

// EnableRestricted enables ring, restricted to the ops of ops that the
// kernel's probe lists and KSOCKET_FEATURES leaves, and to the SQE flags
// sqeFlags; once enabled, no io_uring_register call is allowed. A ring set
// up without IORING_SETUP_R_DISABLED is left as it is.
//
// It returns "yes", or "no (why)" when the ring runs unrestricted: the
// feature is masked, the kernel predates restrictions, or it refused them.
// Only a failure to enable the ring is an error.
func EnableRestricted(ring *uring.Ring, ops []RingOp, sqeFlags uint8) (restricted string, allowed []uint8, err error) {
	return enableRestricted(ring, nil, ops, sqeFlags, processMask)
}

// enableRestricted is EnableRestricted with the process's mask given, and
// the kernel's probe when the caller has it (nil: probe ring).
func enableRestricted(ring *uring.Ring, probe []bool, ops []RingOp, sqeFlags uint8, mask featureMask) (restricted string, allowed []uint8, err error) {
	if !ring.Disabled() {
		if mask["RESTRICTIONS"] {
			return "no (KSOCKET_FEATURES masks RESTRICTIONS)", nil, nil
		}
		return "no (the kernel has no IORING_SETUP_R_DISABLED, Linux 5.10+)", nil, nil
	}
	restricted = "yes"
	if probe == nil {
		probe, err = ring.Probe()
	}
	if err == nil {
		for _, o := range ops {
			if int(o.Op) < len(probe) && probe[o.Op] && !mask[o.Feature] && !slices.Contains(allowed, o.Op) {
				allowed = append(allowed, o.Op)
			}
		}
		slices.Sort(allowed)
		err = ring.RegisterRestrictions(uring.Allowed{Ops: allowed, SQEFlags: sqeFlags})
	}
	if err != nil {
		// The ring still works unrestricted: a sandbox that filters
		// io_uring_register, or a kernel that rejects the list.
		restricted, allowed = fmt.Sprintf("no (IORING_REGISTER_RESTRICTIONS: %s)", errnoText(err)), nil
	}
	if err := ring.EnableRings(); err != nil {
		return "", nil, fmt.Errorf("IORING_REGISTER_ENABLE_RINGS: %w", err)
	}
	return restricted, allowed, nil
}
