//go:build android

package loop

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// newURingLoop is absent on Android, where the uring backend is left out at
// build time; the engine reports epoll there, so this is never reached.
func newURingLoop(*Server, int) (loopRunner, error) {
	return nil, fmt.Errorf("loop: io_uring is left out of Android builds: %w", unix.ENOSYS)
}

// newURingPacketLoop is absent on Android for the same reason.
func newURingPacketLoop(*PacketServer, *PacketConn) (packetLoop, error) {
	return nil, fmt.Errorf("loop: io_uring is left out of Android builds: %w", unix.ENOSYS)
}
