package store

import (
	"fmt"
	"testing"
)

func TestZZPrintQueries(t *testing.T) {
	s := &SQL{dialect: Postgres}
	q := SCIMQuery{Filter: &FilterCompare{Attr: AttrUserName, Op: OpEq, Value: "x"}}
	normalizeQuery(&q)
	where, args, err := s.withFilter("u.org_id = ? AND u.directory_id = ?", []any{"o", "d"}, &userFilterSchema, "o", q)
	fmt.Println(where, args, err)
	fmt.Println("COLS", directoryUserCols)
	fmt.Println("OUTER", outerUserCols)
}
