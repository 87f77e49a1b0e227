//go:build linux && !android

package engine

import (
	"fmt"
	"slices"
	"testing"
)

// TestReadAheadTryFirstSchedule: tryFirst's back-off, with ra.try stubbed
// (a recvmmsg(2) that finds nothing, or one that finds a datagram): after
// a try that finds nothing the next turn skips, after a second in a row
// the next two, then four, then eight at most; a try that finds a
// datagram ends the run, and a skipped turn never calls try. The
// socket's kernel side is TestReadAheadQuietTurns'.
func TestReadAheadTryFirstSchedule(t *testing.T) {
	for _, c := range []struct {
		finds []bool   // what the tries find, in order
		turns int      // turns to run
		want  []string // per turn: "try" (found nothing), "hit", or "skip"
	}{
		{
			finds: []bool{false, false, false, false, false, false},
			turns: 1 + 1 + 1 + 2 + 1 + 4 + 1 + 8 + 1 + 8,
			want: []string{"try", "skip", "try", "skip", "skip", "try", "skip", "skip", "skip", "skip",
				"try", "skip", "skip", "skip", "skip", "skip", "skip", "skip", "skip",
				"try", "skip", "skip", "skip", "skip", "skip", "skip", "skip", "skip"},
		},
		{
			// A hit ends the run: the next empty try skips one again.
			finds: []bool{false, false, true, true, false, true},
			turns: 10,
			want:  []string{"try", "skip", "try", "skip", "skip", "hit", "hit", "try", "skip", "hit"},
		},
	} {
		t.Run(fmt.Sprint(c.finds), func(t *testing.T) {
			ra := &readAhead{}
			i := 0
			ra.try = func(uintptr) bool {
				found := i < len(c.finds) && c.finds[i]
				i++
				return found
			}
			var got []string
			for range c.turns {
				tries := i
				took := ra.tryFirst(-1)
				switch {
				case i == tries:
					got = append(got, "skip")
					if took {
						t.Fatal("a skipped turn reported a datagram")
					}
				case took:
					got = append(got, "hit")
				default:
					got = append(got, "try")
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("turns:\ngot  %v\nwant %v", got, c.want)
			}
		})
	}
}
