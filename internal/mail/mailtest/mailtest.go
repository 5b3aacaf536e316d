// Package mailtest is a minimal SMTP server on loopback for tests: it accepts
// every message (or refuses recipients, to test failures) and hands the messages
// to the test. It speaks just enough of RFC 5321 for net/smtp: EHLO, MAIL, RCPT,
// DATA, RSET, NOOP, QUIT; no TLS, no AUTH.
package mailtest

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
)

// Message is one message received.
type Message struct {
	From string
	To   []string
	Data string // headers and body, CRLF line ends, dot-stuffing undone
}

// Server is a running test SMTP server.
type Server struct {
	Addr string
	// RefuseRecipients makes every RCPT TO fail with 550.
	RefuseRecipients bool

	mu   sync.Mutex
	msgs []Message
	ln   net.Listener
}

// New starts a server on 127.0.0.1, stopped when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

// Messages returns the messages received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func (s *Server) refuse() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.RefuseRecipients
}

// SetRefuseRecipients changes RefuseRecipients while the server runs.
func (s *Server) SetRefuseRecipients(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.RefuseRecipients = v
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(line string) { _, _ = c.Write([]byte(line + "\r\n")) }
	say("220 mailtest ESMTP")
	var m Message
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-mailtest")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			from, _, _ := strings.Cut(strings.TrimSpace(line)[len("MAIL FROM:"):], " ") // drop parameters (BODY=8BITMIME)
			m = Message{From: strings.Trim(from, "<>")}
			say("250 OK")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			if s.refuse() {
				say("550 no such mailbox")
				continue
			}
			m.To = append(m.To, strings.Trim(strings.TrimSpace(line)[len("RCPT TO:"):], "<> \r\n"))
			say("250 OK")
		case cmd == "DATA":
			say("354 end with <CRLF>.<CRLF>")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			m.Data = b.String()
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			say("250 OK queued")
		case cmd == "RSET", cmd == "NOOP":
			say("250 OK")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}
