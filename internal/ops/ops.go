package ops

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Ops runs the operations. Its fields are its dependencies.
type Ops struct {
	Store store.Store
	// Now is the clock of default names (a rotated token's date); time.Now when nil.
	Now func() time.Time
}

// New returns the operations over st.
func New(st store.Store) *Ops { return &Ops{Store: st, Now: time.Now} }

func (o *Ops) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// NewToken is a token's record with its secret, which is shown this once.
type NewToken struct {
	store.Token
	Secret string `json:"secret"`
}
