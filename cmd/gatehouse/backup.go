package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func runBackup(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("backup", stderr)
	dsn := fs.String("db", defaultDB, "SQLite database to back up: sqlite:PATH")
	to := fs.String("to", "", "file to write the backup to (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("--to FILE is required")
	}
	s, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Backup(ctx, *to); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up to %s (integrity check ok)\n", *to)
	return nil
}

func runRestore(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("restore", stderr)
	dsn := fs.String("db", defaultDB, "SQLite database to replace: sqlite:PATH (stop the server first)")
	from := fs.String("from", "", "backup file written by 'gatehouse backup'")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" {
		return errors.New("--from FILE is required")
	}
	if err := store.Restore(ctx, *from, *dsn); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s from %s\n", *dsn, *from)
	return nil
}
