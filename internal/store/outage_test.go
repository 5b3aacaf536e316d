package store_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// cutProxy forwards TCP connections from a loopback port to target until cut:
// cutting closes the listener and every connection, as a database restart does.
type cutProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func (p *cutProxy) start(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after a cut
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestPostgresOutage: while PostgreSQL cannot be reached, store calls fail fast with
// core.ErrUnavailable (edges answer 503) and write nothing; once it is back, the same
// store recovers by itself, without a restart.
func TestPostgresOutage(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{addr: "127.0.0.1:0", target: u.Host}
	p.start(t)
	defer p.cut()
	u.Host = p.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()

	ctx := context.Background()
	s, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
	org, _, err := s.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.test")
	if err != nil {
		t.Fatal(err)
	}

	p.cut()
	start := time.Now()
	_, err = s.CreateUser(ctx, sys, core.User{OrgID: org.ID, UserName: "during@acme.test", Email: "during@acme.test", Active: true, Source: core.SourceInvited})
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("create during the outage: %v; want core.ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the failing call took %s; it must fail fast", took)
	}
	if _, err := s.GetOrg(ctx, org.ID); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("read during the outage: %v; want core.ErrUnavailable", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("ping succeeded during the outage")
	}

	p.start(t) // the database is back on the same address
	var got error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, got = s.GetOrg(ctx, org.ID); got == nil {
			break
		}
	}
	if got != nil {
		t.Fatalf("the store did not recover: %v", got)
	}
	if _, err := s.GetUserByUserName(ctx, org.ID, "during@acme.test"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("the user created during the outage: %v; want not found (no partial write)", err)
	}
	if _, err := s.CreateUser(ctx, sys, core.User{OrgID: org.ID, UserName: "after@acme.test", Email: "after@acme.test", Active: true, Source: core.SourceInvited}); err != nil {
		t.Fatalf("create after recovery: %v", err)
	}
}
