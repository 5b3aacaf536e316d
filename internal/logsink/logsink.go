// Package logsink writes a server's log without a system call per line.
//
// The request log writes a line per request. On a busy server the write(2) of each
// line to stderr was 4% of a SCIM lookup's CPU, as much as formatting it. A Writer
// hands lines to one goroutine, which writes everything gathered since its last
// write at once: a line as soon as it comes when the server is idle, many lines in
// one write under load (the lines of minGap). Nothing is dropped: past a bound, Write waits for the
// goroutine as a direct write would wait for the file.
package logsink

import (
	"io"
	"sync"
	"time"
)

const (
	// maxPending bounds the bytes gathered and not yet written.
	maxPending = 1 << 20
	// minGap is the least time between two writes: a line waits at most this
	// long, and a busy server writes at most 1/minGap times a second.
	minGap = 5 * time.Millisecond
)

// Writer is an io.Writer for log lines; Close writes what is left.
type Writer struct {
	out  io.Writer
	wake chan struct{} // a line is pending (capacity 1: one wake-up covers many)
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	room    sync.Cond // signalled when the pending bytes were taken
	pending []byte
	closed  bool
}

// New starts a Writer to out.
func New(out io.Writer) *Writer {
	w := &Writer{out: out, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	w.room.L = &w.mu
	go w.run()
	return w
}

// Write queues p, a whole line (slog writes each record in one call), and returns
// at once unless maxPending bytes are waiting. After Close it writes p directly.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for !w.closed && len(w.pending) > 0 && len(w.pending)+len(p) > maxPending {
		w.room.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		return w.out.Write(p)
	}
	w.pending = append(w.pending, p...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is already on its way
	}
	return len(p), nil
}

// Close writes the pending lines and stops the goroutine. Later writes go
// straight to the underlying writer.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.room.Broadcast()
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	var spare []byte
	var last time.Time
	gap := time.NewTimer(0)
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			w.flush(&spare)
			return
		}
		// Under load, wait out the rest of minGap since the last write so that
		// the lines of many requests go in one; an idle server's line goes at once.
		if d := minGap - time.Since(last); d > 0 {
			gap.Reset(d)
			select {
			case <-gap.C:
			case <-w.stop:
				w.flush(&spare)
				return
			}
		}
		w.flush(&spare)
		last = time.Now()
	}
}

// flush writes the pending bytes, swapping buffers so that writers append to the
// other one meanwhile. A failed write is not retried: there is nowhere else to log.
func (w *Writer) flush(spare *[]byte) {
	w.mu.Lock()
	b := w.pending
	w.pending = (*spare)[:0]
	w.room.Broadcast()
	w.mu.Unlock()
	if len(b) > 0 {
		_, _ = w.out.Write(b)
	}
	if cap(b) > maxPending*2 { // a burst grew it: do not keep it
		b = nil
	}
	*spare = b
}
