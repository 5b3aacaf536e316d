package storetest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// CutProxy forwards TCP connections from a loopback port to a database until Cut:
// cutting closes the listener and every connection, as a database restart does, and
// new connections are refused until Restore listens again on the same port. Outage
// tests point a store or a server at Addr instead of the database itself, so they
// never disturb the shared server that other tests use.
type CutProxy struct {
	target string
	mu     sync.Mutex
	addr   string
	ln     net.Listener
	conns  []net.Conn
}

// NewCutProxy starts a proxy to target (host:port) on a free loopback port; it is
// cut when the test ends.
func NewCutProxy(t testing.TB, target string) *CutProxy {
	t.Helper()
	p := &CutProxy{target: target, addr: "127.0.0.1:0"}
	p.Restore(t)
	t.Cleanup(p.Cut)
	return p
}

// Addr is the proxy's host:port; it stays the same across Cut and Restore.
func (p *CutProxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Restore listens again on the proxy's address (the port may linger briefly after a
// cut, so it retries for a while).
func (p *CutProxy) Restore(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", p.Addr()); err == nil {
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

// Cut closes the listener and every forwarded connection.
func (p *CutProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
