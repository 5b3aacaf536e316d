package store

// MergedRuns is how many runs of member changes (memberRun) the store's batches
// have done together.
func MergedRuns(s *SQL) int64 {
	return sumBatchers(s, func(b *batcher) int64 { return b.merged.Load() })
}

// PipedChanges is how many changes the store's batches have done by their one
// statement, sent with others (pipeline).
func PipedChanges(s *SQL) int64 {
	return sumBatchers(s, func(b *batcher) int64 { return b.piped.Load() })
}

func sumBatchers(s *SQL, f func(*batcher) int64) int64 {
	n := int64(0)
	if s.batch != nil {
		n += f(s.batch)
	}
	for _, l := range s.lanes {
		n += f(l)
	}
	return n
}
