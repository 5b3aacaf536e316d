package gatehouse_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs requires a package comment on every package, so that a newcomer
// learns what each package is for from `go doc` before reading its code.
func TestPackageDocs(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "artifacts") {
			return filepath.SkipDir
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		documented := map[string]bool{} // package name → has a doc comment
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(path, e.Name()), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				return err
			}
			pkg := f.Name.Name
			documented[pkg] = documented[pkg] || (f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "")
		}
		for pkg, ok := range documented {
			if !ok {
				t.Errorf("package %s (%s) has no package comment: add a doc.go", pkg, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
