package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
)

// problem is an RFC 9457 problem details object. A refusal by the authorizer or by
// core.Decide (a proposal's author or reviewer not allowed) carries the decision's
// reason code and explanation chain as extension members.
type problem struct {
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Status      int         `json:"status"`
	Detail      string      `json:"detail,omitempty"`
	RequestID   string      `json:"request_id,omitempty"`
	Reason      string      `json:"reason,omitempty"`
	Explanation []core.Step `json:"explanation,omitempty"`
}

// writeProblem renders err as problem+json (httpx.Status decides the status and
// what the client may read) and logs what the client does not see.
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, detail := httpx.Status(err)
	rid := requestID(r)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
		log.WarnContext(r.Context(), "api: database unavailable", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", err)
	} else if status >= 500 {
		log.ErrorContext(r.Context(), "api request failed", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", err)
		detail = ""
	} else {
		log.DebugContext(r.Context(), "api request refused", "request_id", rid, "status", status, "err", err)
	}
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, RequestID: rid}
	var rf *decisions.Refused
	if errors.As(err, &rf) && status == http.StatusForbidden {
		p.Reason, p.Explanation = rf.Decision.Reason, rf.Decision.Chain
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}
