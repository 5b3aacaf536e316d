package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// cliActor is who the audit log names for changes made with this tool.
var cliActor = core.Actor{Kind: core.ActorSystem, Name: "gatehouse cli"}

// usageError is bad input on the command line: a missing or malformed flag.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// required checks that every named flag has a value, naming all missing ones at once.
func required(flags ...[2]string) error {
	var missing []string
	for _, f := range flags {
		if strings.TrimSpace(f[1]) == "" {
			missing = append(missing, "--"+f[0])
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &usageError{msg: "missing " + strings.Join(missing, ", ")}
}

// friendly turns a store error into the words of the command that got it: notFound
// and conflict are used when the error is core.ErrNotFound or core.ErrConflict. Other
// errors (core.ErrInvalid carries a message written for people) pass unchanged.
func friendly(err error, notFound, conflict string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, core.ErrNotFound) && notFound != "":
		return errors.New(notFound)
	case errors.Is(err, core.ErrConflict) && conflict != "":
		return errors.New(conflict)
	}
	return err
}

// withStore opens the database of dsn, migrates it, and runs fn with it.
func withStore(ctx context.Context, dsn string, fn func(*store.SQL) error) error {
	s, err := openStore(ctx, dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// subcommands dispatches "gatehouse NAME SUB ..." to the table of SUB.
func subcommands(name string, table map[string]command) func(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return func(ctx context.Context, stdout, stderr io.Writer, args []string) error {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprintf(stderr, "usage: gatehouse %s <command> [flags]\n\ncommands:\n", name)
			for sub, c := range table {
				fmt.Fprintf(stderr, "  %-10s %s\n", sub, c.summary)
			}
			if len(args) == 0 {
				return &usageError{msg: fmt.Sprintf("gatehouse %s needs a command", name)}
			}
			return nil
		}
		c, ok := table[args[0]]
		if !ok {
			return &usageError{msg: fmt.Sprintf("unknown command %q for gatehouse %s", args[0], name)}
		}
		return c.run(ctx, stdout, stderr, args[1:])
	}
}

// flagRefusal names the flag an operation's refusal of one field is about (a
// malformed value, or one another object holds); other errors pass unchanged.
func flagRefusal(flag string, err error) error {
	var fe *ops.FieldError
	if errors.As(err, &fe) {
		return fmt.Errorf("--%s: %s", flag, fe.Msg)
	}
	if _, msg, ok := ops.ConflictField(err); ok {
		return fmt.Errorf("--%s: %s", flag, msg)
	}
	return err
}
