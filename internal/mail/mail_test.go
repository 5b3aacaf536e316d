package mail_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
)

func TestSend(t *testing.T) {
	srv := mailtest.New(t)
	m := &mail.SMTP{Addr: srv.Addr, From: "Gatehouse <gatehouse@acme.example>"}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), "bob@acme.example", "Héllo", "line one\n.dot line\nhttps://x/sso/link?token=abc"); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].From != "gatehouse@acme.example" || len(msgs[0].To) != 1 || msgs[0].To[0] != "bob@acme.example" {
		t.Fatalf("messages = %+v", msgs)
	}
	for _, want := range []string{"To: <bob@acme.example>", "Subject: =?utf-8?q?H=C3=A9llo?=", "\r\n.dot line\r\n", "https://x/sso/link?token=abc"} {
		if !strings.Contains(msgs[0].Data, want) {
			t.Errorf("message lacks %q:\n%s", want, msgs[0].Data)
		}
	}
	// Header injection and bad recipients are refused before anything is sent.
	for _, to := range []string{"bob@acme.example\r\nBcc: eve@evil.example", "not an address"} {
		if err := m.Send(context.Background(), to, "x", "y"); err == nil {
			t.Errorf("sent to %q", to)
		}
	}
	srv.SetRefuseRecipients(true)
	if err := m.Send(context.Background(), "bob@acme.example", "x", "y"); err == nil || !strings.Contains(err.Error(), "RCPT") {
		t.Errorf("refused recipient: %v", err)
	}
	if len(srv.Messages()) != 1 {
		t.Errorf("%d messages, want 1", len(srv.Messages()))
	}
	for _, bad := range []mail.SMTP{{Addr: "nohost", From: "a@b.c"}, {Addr: "h:25", From: "nobody"}} {
		if bad.Check() == nil {
			t.Errorf("Check(%+v) passed", bad)
		}
	}
}
