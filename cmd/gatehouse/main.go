package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// command is one subcommand. run gets the arguments after the command's name.
type command struct {
	summary string
	run     func(ctx context.Context, stdout, stderr io.Writer, args []string) error
}

// commands is the one table of subcommands; each lives in its own file.
var commands = map[string]command{
	"migrate":    {"apply database migrations", runMigrate},
	"serve":      {"run the Gatehouse server", runServe},
	"org":        {"manage organizations (org create)", subcommands("org", orgCommands)},
	"token":      {"create bearer tokens (token create)", subcommands("token", tokenCommands)},
	"directory":  {"change a SCIM directory's email domains (directory update)", subcommands("directory", directoryCommands)},
	"domain":     {"verify email domains and require verified ones (domain list, verify, require-verified)", subcommands("domain", domainCommands)},
	"demo":       {"load a demo organization and show example decisions", runDemo},
	"backup":     {"take a consistent online backup of a SQLite database", runBackup},
	"restore":    {"replace a SQLite database with a backup (server stopped)", runRestore},
	"sso":        {"add, update, delete and list SSO connections (SAML, OIDC)", runSSO},
	"login-link": {"print a single-use sign-in link for an org admin (break glass: no identity provider needed)", runLoginLink},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Stderr, os.Args[1:])
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // -h printed the command's flags
		}
		fmt.Fprintln(os.Stderr, "gatehouse: "+oneLine(err))
		os.Exit(2)
	}
}

// run dispatches to a subcommand; tests call it directly.
func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		usage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return cmd.run(ctx, stdout, stderr, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gatehouse <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'gatehouse <command> -h' for a command's flags.")
}

// self is how the person at the terminal runs this binary again, for the commands
// it prints: the path they typed (./bin/gatehouse), gatehouse when it was found on
// the PATH, or go run ./cmd/gatehouse when go run built it in a temporary directory.
func self() string {
	arg0 := os.Args[0]
	switch {
	case strings.Contains(arg0, "go-build"):
		return "go run ./cmd/gatehouse"
	case strings.ContainsRune(arg0, os.PathSeparator):
		return shellQuote(arg0)
	}
	return "gatehouse"
}

// oneLine keeps an error to one line: the CLI never prints a stack trace or a dump.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// newFlags returns a FlagSet for a command that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, filling every flag not given on the command line from
// GATEHOUSE_<FLAG> in the environment. Positional arguments are refused.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		key := "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", key, e)
			}
		}
	})
	return err
}

// defaultDB is the embedded default: a SQLite file in the working directory.
const defaultDB = "sqlite:gatehouse.db"

// openStore opens the database and applies pending migrations.
func openStore(ctx context.Context, dsn string) (*store.SQL, error) {
	s, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func runMigrate(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("migrate", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	applied, err := s.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
		return nil
	}
	for _, v := range applied {
		fmt.Fprintln(stdout, "applied", v)
	}
	return nil
}
