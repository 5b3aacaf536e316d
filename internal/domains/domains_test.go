package domains_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/domains"
	"github.com/gatehouse-dev/gatehouse/internal/domains/domainstest"
)

func TestCheckAgainstADNSServer(t *testing.T) {
	srv := domainstest.Start(t)
	c := &domains.Checker{Resolver: domains.NewResolver(srv.Addr), Timeout: 2 * time.Second}
	ctx := context.Background()
	rec := domains.RecordFor("acme.example", "tok123")
	if rec.Name != "_gatehouse-challenge.acme.example" || rec.Type != "TXT" || rec.Value != "gatehouse-verification=tok123" {
		t.Fatalf("record = %+v", rec)
	}

	// Nothing published: missing.
	var rf *domains.Refusal
	if err := c.Check(ctx, "acme.example", "tok123"); !errors.As(err, &rf) || !rf.Missing || rf.Lookup {
		t.Fatalf("no record: %v", err)
	}
	if !strings.Contains(rf.Error(), "no TXT record at _gatehouse-challenge.acme.example") {
		t.Fatalf("missing says %q", rf.Error())
	}

	// Another org's token, and unrelated records: not ours, and they are named.
	srv.SetTXT(rec.Name, "gatehouse-verification=other", "v=spf1 -all")
	if err := c.Check(ctx, "acme.example", "tok123"); !errors.As(err, &rf) || rf.Missing || rf.Lookup || len(rf.Found) != 2 {
		t.Fatalf("wrong record: %v", err)
	}
	if !strings.Contains(rf.Error(), `"gatehouse-verification=other"`) {
		t.Fatalf("mismatch says %q", rf.Error())
	}
	// A prefix of the right value is not the value.
	srv.SetTXT(rec.Name, "gatehouse-verification=tok12")
	if err := c.Check(ctx, "acme.example", "tok123"); !errors.As(err, &rf) {
		t.Fatalf("prefix accepted: %v", err)
	}

	// The right record among others, in any case of the name.
	srv.SetTXT(rec.Name, "v=spf1 -all", rec.Value)
	if err := c.Check(ctx, "ACME.example", "tok123"); err != nil {
		t.Fatalf("right record: %v", err)
	}
	// A long value split over several strings is joined back.
	long := strings.Repeat("x", 300)
	srv.SetTXT("_gatehouse-challenge.long.example", "gatehouse-verification="+long)
	if err := c.Check(ctx, "long.example", long); err != nil {
		t.Fatalf("long record: %v", err)
	}
	// The record must be at the challenge name, not at the domain itself.
	srv.SetTXT("bare.example", "gatehouse-verification=tok123")
	if err := c.Check(ctx, "bare.example", "tok123"); !errors.As(err, &rf) || !rf.Missing {
		t.Fatalf("record at the bare domain: %v", err)
	}

	// A server that does not answer: a lookup failure within the timeout.
	srv.Silence(true)
	c.Timeout = 300 * time.Millisecond
	err := c.Check(ctx, "acme.example", "tok123")
	if !errors.As(err, &rf) || !rf.Lookup || !strings.Contains(rf.Error(), "timed out") {
		t.Fatalf("silent server: %v", err)
	}
}
