//go:build linux

package gonet

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// TCP keep-alives, with net's defaults and rounding.

const (
	defaultKeepAliveIdle     = 15 * time.Second
	defaultKeepAliveInterval = 15 * time.Second
	defaultKeepAliveCount    = 9
)

// setKeepAliveConfig applies cfg through set as net's SetKeepAliveConfig
// does: SO_KEEPALIVE always; then each of idle, interval and count, where
// zero means net's default and a negative value leaves the kernel's
// setting alone. Durations go to the kernel in seconds, rounded up.
func setKeepAliveConfig(set func(level, opt, v int) error, cfg net.KeepAliveConfig) error {
	if err := set(unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(cfg.Enable)); err != nil {
		return err
	}
	if err := setKeepAliveIdle(set, cfg.Idle); err != nil {
		return err
	}
	if d := orDefault(cfg.Interval, defaultKeepAliveInterval); d > 0 {
		if err := set(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secondsUp(d)); err != nil {
			return err
		}
	}
	if n := orDefault(cfg.Count, defaultKeepAliveCount); n > 0 {
		return set(unix.IPPROTO_TCP, unix.TCP_KEEPCNT, n)
	}
	return nil
}

// setKeepAliveIdle sets the idle time before the first probe, as net's
// SetKeepAlivePeriod: zero means 15 s, negative changes nothing.
func setKeepAliveIdle(set func(level, opt, v int) error, d time.Duration) error {
	if d = orDefault(d, defaultKeepAliveIdle); d > 0 {
		return set(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secondsUp(d))
	}
	return nil
}

// connKeepAlive is the keep-alive config net gives a new connection from
// a Dialer's or ListenConfig's KeepAlive and KeepAliveConfig, and whether
// it sets one at all.
func connKeepAlive(period time.Duration, cfg net.KeepAliveConfig) (net.KeepAliveConfig, bool) {
	if !cfg.Enable && period >= 0 {
		cfg = net.KeepAliveConfig{Enable: true, Idle: period}
	}
	return cfg, cfg.Enable
}

func orDefault[T time.Duration | int](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func secondsUp(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }
