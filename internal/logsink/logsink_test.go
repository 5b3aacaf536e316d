package logsink

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer counts the writes it gets.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	delay  time.Duration
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	time.Sleep(l.delay)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Every line of concurrent writers arrives whole, each writer's in its order, and
// Close leaves nothing behind.
func TestLinesWholeAndOrdered(t *testing.T) {
	out := &lockedBuffer{delay: 50 * time.Microsecond}
	w := New(out)
	const writers, lines = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "g%d line %d %s\n", g, i, strings.Repeat("x", i%50))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*lines)
	}
	for _, l := range got {
		f := strings.Split(l, " ")
		if len(f) != 4 || f[1] != "line" {
			t.Fatalf("torn line %q", l)
		}
		g, _ := strconv.Atoi(strings.TrimPrefix(f[0], "g"))
		i, _ := strconv.Atoi(f[2])
		pad := f[3]
		if i != next[g] || len(pad) != i%50 {
			t.Fatalf("line %q: want g%d line %d", l, g, next[g])
		}
		next[g]++
	}
	if out.writes >= writers*lines {
		t.Errorf("%d writes for %d lines: nothing was gathered", out.writes, writers*lines)
	}
}

// An idle writer's line is written without waiting for more, or for Close.
func TestIdleLineWrittenAtOnce(t *testing.T) {
	out := &lockedBuffer{}
	w := New(out)
	defer w.Close()
	fmt.Fprintln(w, "hello")
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != "hello\n" {
		if time.Now().After(deadline) {
			t.Fatalf("line not written: %q", out.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// A slow sink holds writers back at the bound instead of growing without one, and
// a write after Close goes straight through.
func TestBoundAndAfterClose(t *testing.T) {
	out := &lockedBuffer{delay: 20 * time.Millisecond}
	w := New(out)
	line := []byte(strings.Repeat("y", maxPending/4-1) + "\n")
	start := time.Now()
	for range 12 {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	w.mu.Lock()
	pending := len(w.pending)
	w.mu.Unlock()
	if pending > maxPending {
		t.Fatalf("%d bytes pending, bound %d", pending, maxPending)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatalf("12 quarter-bound lines queued without waiting for the sink")
	}
	w.Close()
	if n := strings.Count(out.String(), "\n"); n != 12 {
		t.Fatalf("%d lines after Close, want 12", n)
	}
	fmt.Fprintln(w, "late")
	if !strings.HasSuffix(out.String(), "late\n") {
		t.Fatal("a write after Close was not written")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
