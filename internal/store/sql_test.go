package store_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func TestSQLiteFile(t *testing.T) {
	t.Parallel()
	storetest.RunTests(t, storetest.WithClock(storetest.NewSQLite))
}

func TestSQLiteMemory(t *testing.T) {
	t.Parallel()
	storetest.RunTests(t, storetest.WithClock(storetest.NewSQLiteMemory))
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.NewPostgres(t) // skips when PostgreSQL is not configured
	storetest.RunTests(t, storetest.WithClock(storetest.NewPostgres))
}

func TestConcurrencySQLite(t *testing.T) {
	t.Parallel()
	storetest.RunConcurrencyTests(t, storetest.WithClock(storetest.NewSQLite))
}

func TestConcurrencyPostgres(t *testing.T) {
	t.Parallel()
	storetest.NewPostgres(t)
	storetest.RunConcurrencyTests(t, storetest.WithClock(storetest.NewPostgres))
}
