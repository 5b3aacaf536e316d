package store

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// columnNames lists the names of a SELECT list's columns: "a.col" is col, "… AS
// name" is name; the pieces of an expression's own commas name none.
func columnNames(cols string) []string {
	bare := regexp.MustCompile(`^(?:[a-z]+\.)?([a-z_]+)$`)
	var out []string
	for _, c := range regexp.MustCompile(`,\s*`).Split(cols, -1) {
		c = strings.TrimSpace(c)
		if _, as, ok := strings.Cut(c, " AS "); ok {
			out = append(out, as)
		} else if m := bare.FindStringSubmatch(c); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// destNames lists the db tags of the fields of *row (embedded structs walked) that
// dest points at, in dest's order.
func destNames(row any, dest []any) []string {
	tagOf := map[uintptr]string{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.Anonymous {
				walk(v.Field(i))
			} else {
				tagOf[v.Field(i).Addr().Pointer()] = f.Tag.Get("db")
			}
		}
	}
	walk(reflect.ValueOf(row).Elem())
	var out []string
	for _, p := range dest {
		out = append(out, tagOf[reflect.ValueOf(p).Pointer()])
	}
	return out
}

// TestScanDest: each list of places a row is scanned into (no sqlx reflection)
// names the fields of its columns, in the columns' order.
func TestScanDest(t *testing.T) {
	var u scimUserRow
	var g idpGroupRow
	for _, c := range []struct {
		name string
		row  any
		dest []any
		cols string
	}{
		{"listUserCols", &u, u.listDest(false), listUserCols},
		{"listUserCols+token", &u, u.listDest(true), listUserCols + ", token_live"},
		{"outerUserCols+token", &u, u.listDest(true), outerUserCols + ", t.token_live"},
		{"scimUserCols", &u, u.dest(), scimUserCols},
		{"idpGroupCols", &g, g.dest(false), idpGroupCols},
		{"idpGroupCols+token", &g, g.dest(true), idpGroupCols + ", token_live"},
	} {
		got, want := destNames(c.row, c.dest), columnNames(c.cols)
		if len(want) < 9 || !slices.Equal(got, want) {
			t.Errorf("%s: scans into %v, columns are %v", c.name, got, want)
		}
	}
}
