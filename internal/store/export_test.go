package store

// MergedRuns is how many runs of member changes (memberRun) the store's batches
// have done together.
func MergedRuns(s *SQL) int64 {
	n := int64(0)
	if s.batch != nil {
		n += s.batch.merged.Load()
	}
	for _, l := range s.lanes {
		n += l.merged.Load()
	}
	return n
}
