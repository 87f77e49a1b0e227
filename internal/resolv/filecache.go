//go:build linux

package resolv

import (
	"errors"
	"io/fs"
	"os"
	"sync"
)

// fileCache holds the parsed form of configuration files (hosts, services),
// keyed by path, and parses a file again when its identity, size or mtime
// changes. glibc reads /etc/hosts on every call; a stat per call gives the
// same freshness for much less work. A file rewritten in place within one mtime
// tick without changing size is not noticed until its next change.
type fileCache[T any] struct {
	parse func([]byte) T

	mu    sync.Mutex
	files map[string]*cachedFile[T] // guarded by mu; entries are immutable
}

type cachedFile[T any] struct {
	info fs.FileInfo
	val  T
}

// get returns the parsed contents of path. A missing file parses as an empty
// one, as in glibc; any other failure to read it is returned as err.
func (fc *fileCache[T]) get(path string) (val T, err error) {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fc.parse(nil), nil
		}
		return val, err
	}
	fc.mu.Lock()
	cf := fc.files[path]
	fc.mu.Unlock()
	if cf != nil && sameVersion(cf.info, info) {
		return cf.val, nil
	}

	// Read outside the lock: concurrent misses may parse twice, but a slow
	// file never blocks lookups of other files. The info from before the read
	// is stored, so a change during the read is seen by the next call.
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fc.parse(nil), nil
		}
		return val, err
	}
	cf = &cachedFile[T]{info: info, val: fc.parse(b)}
	fc.mu.Lock()
	if fc.files == nil {
		fc.files = make(map[string]*cachedFile[T])
	}
	fc.files[path] = cf
	fc.mu.Unlock()
	return cf.val, nil
}

// sameVersion reports whether a and b describe the same version of a file.
func sameVersion(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
