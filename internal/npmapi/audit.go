package npmapi

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
)

// userEvents is the caller's own security log, GET /-/npm/v1/user/events
// ?cursor=ID&perPage=N: a page of events, newest first, in the shape of
// npm's other paged lists: {"objects": [...], "total": N, "urls": {"next":
// ...}} (docs/audit.md). Who may read it is policy.ReadSecurityLog.
func (a *API) userEvents(w http.ResponseWriter, r *http.Request) {
	if a.opts.Audit == nil {
		a.writeError(w, r, fault.NotFoundf("Not found"))
		return
	}
	q := r.URL.Query()
	cursor, err := nonNegative64(q.Get("cursor"))
	if err != nil {
		a.writeError(w, r, fault.Invalidf("cursor must be the id of an event (the next URL gives it)"))
		return
	}
	perPage, err := nonNegative(q.Get("perPage"), audit.DefaultPerPage)
	if err != nil || perPage < 1 || perPage > audit.MaxPerPage {
		a.writeError(w, r, fault.Invalidf("perPage must be an integer from 1 to %d", audit.MaxPerPage))
		return
	}
	page, err := a.opts.Audit.AccountLog(r.Context(), auth.FromContext(r.Context()), cursor, perPage)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	objects := page.Events
	if objects == nil {
		objects = []audit.Event{}
	}
	urls := map[string]string{}
	if page.Next != 0 {
		urls["next"] = "/-/npm/v1/user/events?cursor=" + strconv.FormatInt(page.Next, 10) + "&perPage=" + strconv.Itoa(perPage)
	}
	writeJSON(w, http.StatusOK, map[string]any{"objects": objects, "total": page.Total, "urls": urls})
}

// adminAudit is the whole audit log for log collectors, GET /-/admin/audit
// ?cursor=ID&since=T&until=T&user=NAME&action=A&outcome=O&limit=N: the
// events after the cursor, oldest first, as JSON lines (one event a line,
// docs/audit.md), at most limit (and audit.MaxExportBatch) of them. A
// collector resumes with the id of the last line it read as the cursor; an
// answer with fewer lines than the limit is all there was. Only an
// administrator may (policy.AuditRead); to anyone else the path does not
// exist.
func (a *API) adminAudit(w http.ResponseWriter, r *http.Request) {
	if a.opts.Audit == nil {
		a.writeError(w, r, fault.NotFoundf("Not found"))
		return
	}
	p := auth.FromContext(r.Context())
	// Decided before the parameters are read: to anyone who may not, a
	// bad cursor or limit must answer exactly as a path nothing serves.
	if err := policy.DecideAdmin(p, policy.AuditRead); err != nil {
		a.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	cursor, err := nonNegative64(q.Get("cursor"))
	if err != nil {
		a.writeError(w, r, fault.Invalidf("cursor must be the id of an event (the last line's id)"))
		return
	}
	limit, err := nonNegative(q.Get("limit"), audit.MaxExportBatch)
	if err != nil || limit < 1 || limit > audit.MaxExportBatch {
		a.writeError(w, r, fault.Invalidf("limit must be an integer from 1 to %d", audit.MaxExportBatch))
		return
	}
	f, err := audit.ParseFilter(q.Get, time.Now())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// The first line commits the answer; a refusal (or a failure before
	// any event) is an ordinary error answer.
	var out *bufio.Writer
	lines := 0
	_, err = a.opts.Audit.Export(r.Context(), p, f, cursor, limit, func(e audit.Event) error {
		if out == nil {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			out = bufio.NewWriterSize(w, 32<<10)
		}
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, err := out.Write(append(b, '\n')); err != nil {
			return err
		}
		if lines++; lines%500 == 0 {
			if err := out.Flush(); err != nil {
				return err
			}
			_ = http.NewResponseController(w).Flush()
		}
		return nil
	})
	if out == nil {
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		// Too late for an error answer: the collector sees a cut answer
		// and resumes from the last whole line.
		a.log.WarnContext(r.Context(), "audit export cut short", slog.Int("events", lines), slog.Any("error", err))
		panic(http.ErrAbortHandler)
	}
}

// nonNegative64 reads an optional non-negative integer; "" is 0.
func nonNegative64(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fault.Invalidf("not a non-negative integer")
	}
	return n, nil
}
