//go:build linux

package resolv

import "bytes"

// servicesFile is a parsed services(5) file.
type servicesFile struct {
	ports map[servKey]uint16 // first line wins, as in getservbyname_r
}

type servKey struct {
	name, proto string
}

var servicesCache = fileCache[*servicesFile]{parse: parseServices}

// parseServices parses a services file the way glibc's nss_files does
// (nss/nss_files/files-service.c): "name port/proto aliases...", '#' starts a
// comment, the port is read by strtoul and truncated to 16 bits.
func parseServices(data []byte) *servicesFile {
	s := &servicesFile{ports: make(map[servKey]uint16)}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if i := bytes.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := cFields(line)
		if len(f) < 2 {
			continue
		}
		// INT_FIELD (nss/nss_files/files-parse.c): strtoul up to a '/', then
		// htons, which keeps the low 16 bits.
		v, end := strtoul10(string(f[1]))
		if end == 0 || end >= len(f[1]) || f[1][end] != '/' {
			continue
		}
		port, proto := uint16(v), f[1][end+1:]
		for _, name := range append(f[:1:1], f[2:]...) {
			k := servKey{name: string(name), proto: string(proto)}
			if _, dup := s.ports[k]; !dup {
				s.ports[k] = port
			}
		}
	}
	return s
}

// lookup is getservbyname_r(name, proto): names and aliases match
// case-sensitively, as nss_files compares them with strcmp.
func (s *servicesFile) lookup(name, proto string) (port uint16, ok bool) {
	port, ok = s.ports[servKey{name: name, proto: proto}]
	return port, ok
}
