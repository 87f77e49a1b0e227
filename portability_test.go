//go:build linux

package ksocket

import (
	"bytes"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOtherSystemsAPIMatches checks that ksocket_other.go, which darwin and
// the other unix systems build, declares exactly the exported API of the
// Linux files, with the same signatures, constant values and field lists: a
// program written on Linux must build there.
func TestOtherSystemsAPIMatches(t *testing.T) {
	linux := map[string]string{}
	other := map[string]string{}
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || name == "doc.go" {
			continue
		}
		if builtOn(fileConstraint(t, name), "linux") && builtOn(fileConstraint(t, name), "darwin") {
			continue // shared, as types.go: both sides declare it by construction
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		into := linux
		if name == "ksocket_other.go" {
			into = other
		}
		exportedDecls(t, fset, f, into)
	}
	if len(other) == 0 {
		t.Fatal("ksocket_other.go declares nothing")
	}
	for _, k := range sortedKeys(linux) {
		if o, ok := other[k]; !ok {
			t.Errorf("ksocket_other.go lacks %s", linux[k])
		} else if o != linux[k] {
			t.Errorf("ksocket_other.go differs from Linux:\n  linux: %s\n  other: %s", linux[k], o)
		}
	}
	for _, k := range sortedKeys(other) {
		if _, ok := linux[k]; !ok {
			t.Errorf("ksocket_other.go declares %s, which Linux does not", other[k])
		}
	}
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// exportedDecls records every exported function, method, type and constant
// of f as a line of source, keyed by name. Constants are keyed by name with
// their value as glibc has it (the Linux files take them from resolv, so the
// values are compared in TestOtherSystemsConstants).
func exportedDecls(t *testing.T, fset *token.FileSet, f *ast.File, into map[string]string) {
	src := func(n any) string {
		var b bytes.Buffer
		if err := printer.Fprint(&b, fset, n); err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(b.String()), " ")
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			key := d.Name.Name
			if d.Recv != nil {
				recv := strings.TrimPrefix(src(d.Recv.List[0].Type), "*")
				if !ast.IsExported(recv) {
					continue // a method of an unexported type
				}
				key = src(d.Recv.List[0].Type) + "." + key
			}
			into["func "+key] = "func " + key + src(d.Type)[len("func"):]
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if !s.Name.IsExported() {
						continue
					}
					// Field comments differ; compare names and types only.
					typ := s.Type
					if st, ok := typ.(*ast.StructType); ok {
						var fields []string
						for _, fl := range st.Fields.List {
							var names []string
							for _, n := range fl.Names {
								names = append(names, n.Name)
							}
							fields = append(fields, strings.Join(names, ", ")+" "+src(fl.Type))
						}
						into["type "+s.Name.Name] = "type " + s.Name.Name + " struct{" + strings.Join(fields, "; ") + "}"
						continue
					}
					into["type "+s.Name.Name] = "type " + s.Name.Name + " " + src(typ)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							into[d.Tok.String()+" "+n.Name] = d.Tok.String() + " " + n.Name
						}
					}
				}
			}
		}
	}
}

// TestOtherSystemsConstants checks the values ksocket_other.go spells out
// against the Linux ones, which come from internal/resolv.
func TestOtherSystemsConstants(t *testing.T) {
	want := map[string]int{
		"AI_PASSIVE": AI_PASSIVE, "AI_CANONNAME": AI_CANONNAME, "AI_NUMERICHOST": AI_NUMERICHOST,
		"AI_V4MAPPED": AI_V4MAPPED, "AI_ALL": AI_ALL, "AI_ADDRCONFIG": AI_ADDRCONFIG, "AI_NUMERICSERV": AI_NUMERICSERV,
		"EAI_BADFLAGS": EAI_BADFLAGS, "EAI_NONAME": EAI_NONAME, "EAI_AGAIN": EAI_AGAIN, "EAI_FAIL": EAI_FAIL,
		"EAI_NODATA": EAI_NODATA, "EAI_FAMILY": EAI_FAMILY, "EAI_SOCKTYPE": EAI_SOCKTYPE, "EAI_SERVICE": EAI_SERVICE,
		"EAI_ADDRFAMILY": EAI_ADDRFAMILY, "EAI_MEMORY": EAI_MEMORY, "EAI_SYSTEM": EAI_SYSTEM, "EAI_OVERFLOW": EAI_OVERFLOW,
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "ksocket_other.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				w, ok := want[n.Name]
				if !ok {
					continue
				}
				seen++
				got, err := constValue(vs.Values[i])
				if err != "" {
					t.Errorf("%s: %s", n.Name, err)
				} else if got != w {
					t.Errorf("ksocket_other.go: %s = %d, Linux (glibc) has %d", n.Name, got, w)
				}
			}
		}
	}
	if seen != len(want) {
		t.Errorf("ksocket_other.go spells out %d of the %d AI_/EAI_ constants", seen, len(want))
	}
}

// constValue evaluates an integer literal, possibly negated.
func constValue(e ast.Expr) (int, string) {
	neg := false
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.SUB {
		neg, e = true, u.X
	}
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.INT {
		return 0, "not an integer literal"
	}
	var v int
	s := lit.Value
	base := 10
	if strings.HasPrefix(s, "0x") {
		base, s = 16, s[2:]
	}
	for _, c := range s {
		d := strings.IndexRune("0123456789abcdef", c)
		if d < 0 || d >= base {
			return 0, "bad literal " + lit.Value
		}
		v = v*base + d
	}
	if neg {
		v = -v
	}
	return v, ""
}

// TestBuildConstraints checks the portability rule: every Go file of the
// root package, internal/* and loop is built only on unix (a constraint
// false for windows, plan9, js and wasip1), except the doc.go files, which
// carry none so that the package documents itself everywhere.
func TestBuildConstraints(t *testing.T) {
	var files []string
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".go") {
			files = append(files, e.Name())
		}
	}
	for _, dir := range []string{"internal", "loop"} {
		err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") {
				files = append(files, path)
			}
			return err
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	notUnix := []string{"windows", "plan9", "js", "wasip1"}
	for _, path := range files {
		expr := fileConstraint(t, path)
		if filepath.Base(path) == "doc.go" {
			if expr != nil {
				t.Errorf("%s: doc.go carries %q; it must build everywhere", path, expr)
			}
			continue
		}
		if expr == nil {
			t.Errorf("%s: no //go:build line; it must be unix or narrower", path)
			continue
		}
		for _, goos := range notUnix {
			if expr.Eval(func(tag string) bool { return tag == goos || tag == "amd64" || tag == "wasm" || tag == "gc" }) {
				t.Errorf("%s: //go:build %s is true on %s; it must be unix or narrower", path, expr, goos)
			}
		}
	}
}

// builtOn reports whether a file with constraint expr builds on goos, a
// unix system.
func builtOn(expr constraint.Expr, goos string) bool {
	return expr == nil || expr.Eval(func(tag string) bool { return tag == goos || tag == "unix" })
}

func fileConstraint(t *testing.T, path string) constraint.Expr {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "package ") {
			break
		}
		if constraint.IsGoBuild(line) {
			expr, err := constraint.Parse(line)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return expr
		}
	}
	return nil
}
