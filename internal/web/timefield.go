package web

import "time"

// timeField parses the times of the audit filter: an HTML datetime-local value
// (taken as UTC) or RFC 3339.
type timeField struct{ dst *time.Time }

func (f *timeField) parse(s string) error {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			*f.dst = t.UTC()
			return nil
		}
	}
	_, err := time.Parse(time.RFC3339, s)
	return err
}
