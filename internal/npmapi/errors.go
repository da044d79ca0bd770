package npmapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/route"
)

// writeError answers err as npm expects: JSON {"error": "..."} with the
// kind's status (fault.Kind.Status) and, for 401, the challenge. Internal errors are logged with
// the request id and shown only as "internal server error".
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = fault.New(fault.TooLarge, "request body is larger than the %d-byte limit", mbe.Limit)
	}
	e, ok := fault.As(err)
	if !ok || e.Kind == fault.Internal {
		// The route, not the path: some paths carry a token. The request's
		// access log line, with the same request_id, has the path redacted.
		a.log.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method),
			slog.String("route", a.routeName(r)), slog.Any("error", err))
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal server error"})
		return
	}
	status := e.Kind.Status()
	if e.Challenge != "" {
		w.Header().Set("WWW-Authenticate", e.Challenge)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Err != nil {
		a.log.DebugContext(r.Context(), "request refused", slog.Int("status", status), slog.Any("error", e.Err))
	}
	body := map[string]string{"error": e.Message}
	if e.Challenge == "OTP" {
		a.offerWebOTP(r, body)
	}
	writeJSON(w, status, body)
}

// routeName is the name of the route answering r, found by the pattern the
// route table recorded in r.Pattern.
func (a *API) routeName(r *http.Request) string {
	if name, ok := a.routeNames[r.Pattern]; ok {
		return name
	}
	return route.Other
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal server error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// offerWebOTP adds {authUrl, doneUrl} to an OTP challenge when npm asked for
// web authentication (npm-auth-type: web), so a person can confirm in the
// browser; npm then polls doneUrl for a one-time code. Without the header, or
// when the flow cannot start, the plain challenge stands and npm asks for a
// code in the terminal.
func (a *API) offerWebOTP(r *http.Request, body map[string]string) {
	p := auth.FromContext(r.Context())
	if r.Header.Get("npm-auth-type") != "web" || !p.Authenticated() {
		return
	}
	st, err := a.accounts.StartWebAuth(r.Context(), account.WebOTP, p, r.Header.Get("npm-command"))
	if err != nil {
		a.log.WarnContext(r.Context(), "start web OTP", slog.Any("error", err))
		return
	}
	base := a.baseURL(r)
	body["authUrl"] = base + "/-/web/login/" + st.LoginID
	body["doneUrl"] = base + "/-/v1/login/done/" + st.DoneID
}
