package store_test

import (
	"os"
	"testing"
)

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
