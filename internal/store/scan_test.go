package store

import (
	"reflect"
	"strings"
	"testing"
)

// TestListDest: listDest's pointers are scimUserRow's fields for the columns of
// listUserCols and outerUserCols, in their order, then token_live.
func TestListDest(t *testing.T) {
	var r scimUserRow
	base := reflect.ValueOf(&r).Elem()
	tagOf := map[uintptr]string{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Anonymous {
				walk(v.Field(i))
				continue
			}
			tagOf[v.Field(i).Addr().Pointer()] = f.Tag.Get("db")
		}
	}
	walk(base)
	var got []string
	for _, p := range r.listDest(true) {
		got = append(got, tagOf[reflect.ValueOf(p).Pointer()])
	}
	var list []string
	for _, c := range strings.Split(listUserCols, ", ") {
		list = append(list, strings.TrimPrefix(c, "u."))
	}
	var outer []string
	for _, c := range strings.Split(outerUserCols, ", ") { // "x.col" or "COALESCE(x.col, …) AS col"
		if _, as, ok := strings.Cut(c, " AS "); ok {
			outer = append(outer, as)
		} else if col, ok := strings.CutPrefix(c, "x."); ok {
			outer = append(outer, col)
		}
	}
	want := append(list, "token_live")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listDest scans %v, listUserCols are %v", got, want)
	}
	if !reflect.DeepEqual(outer, list) {
		t.Errorf("outerUserCols are %v, listUserCols %v", outer, list)
	}
	if n := len(r.listDest(false)); n != len(list) {
		t.Errorf("listDest(false) has %d places for %d columns", n, len(list))
	}
}
