package store

import (
	"context"
	"time"
)

// RateLimits keeps shared fixed-window counters.
type RateLimits interface {
	// Hit counts one event for key in the window containing now and returns the
	// window's count so far, this event included.
	Hit(ctx context.Context, key string, window time.Duration) (int64, error)
	// PruneRateLimits deletes windows that ended before cutoff.
	PruneRateLimits(ctx context.Context, cutoff time.Time) error
}

var _ RateLimits = (*SQL)(nil)

// Hit is one upsert: concurrent instances add to the same row, never read-then-write.
func (s *SQL) Hit(ctx context.Context, key string, window time.Duration) (int64, error) {
	now := s.Now()
	start := micros(now.Truncate(window))
	var hits int64
	err := s.inTx(ctx, func(t *tx) error {
		return t.get(ctx, &hits, `INSERT INTO rate_limits (key, window_start, hits) VALUES (?, ?, 1)
			ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limits.hits + 1
			RETURNING hits`, key, start)
	})
	return hits, err
}

// PruneRateLimits deletes windows that ended before cutoff.
func (s *SQL) PruneRateLimits(ctx context.Context, cutoff time.Time) error {
	return s.inTx(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `DELETE FROM rate_limits WHERE window_start < ?`, micros(cutoff))
		return err
	})
}
