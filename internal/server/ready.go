package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// readyPath answers whether this node can serve: its database and its blob
// store both answer. /-/ping (in npmapi) only says the process is up.
const readyPath = "/-/ready"

// readyTimeout bounds a readiness check; a dependency slower than this counts
// as down.
const readyTimeout = 2 * time.Second

// ready answers 200 {"ready":true,"database":"ok","blobs":"ok"} when the
// database answers a query and the blob store can be reached, else 503
// with "failed" or "timeout" for the part at fault. The answer never carries
// an error text (it could name hosts or users); the log line, with the
// request's id, does.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte(`{"error":"method not allowed"}`))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	checks := []struct {
		name  string
		check func(context.Context) error
	}{
		{"database", func(ctx context.Context) error { _, err := s.store.SchemaVersion(ctx); return err }},
		{"blobs", s.blobs.Ping},
	}
	type outcome struct {
		name string
		err  error
	}
	// The checks run side by side; the answer does not wait past the
	// timeout, even for a backend that does not heed its context.
	done := make(chan outcome, len(checks))
	states := map[string]string{}
	for _, c := range checks {
		states[c.name] = "timeout"
		go func() { done <- outcome{c.name, c.check(ctx)} }()
	}
wait:
	for range checks {
		select {
		case o := <-done:
			if o.err != nil {
				states[o.name] = "failed"
				s.log.WarnContext(r.Context(), "not ready", slog.String("part", o.name), slog.Any("error", o.err))
				continue
			}
			states[o.name] = "ok"
		case <-ctx.Done():
			s.log.WarnContext(r.Context(), "not ready: a check timed out", slog.Duration("timeout", readyTimeout))
			break wait
		}
	}
	body := map[string]any{"ready": true}
	status := http.StatusOK
	for name, state := range states {
		body[name] = state
		if state != "ok" {
			body["ready"], status = false, http.StatusServiceUnavailable
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, `{"error":"internal server error"}`, http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
