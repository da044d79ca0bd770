package npmapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/hook"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Webhooks (npm hook; libnpmhook): POST /-/npm/v1/hooks/hook {type, name,
// endpoint, secret}, GET /-/npm/v1/hooks?package=&limit=&offset=,
// GET/PUT/DELETE /-/npm/v1/hooks/hook/:id; and gatehouse's own: a hook's
// deliveries and a redelivery. docs/webhooks.md.

// hookObject is a hook as npm hook renders it (id, name, type, endpoint,
// last_delivery, response_code), with gatehouse's events beside them; the
// secret is shown masked, never again after it was sent.
func hookObject(h hook.Hook) map[string]any {
	o := map[string]any{
		"id": h.ID, "username": h.User, "name": h.Name, "type": h.Type, "endpoint": h.Endpoint,
		"secret": hook.MaskedSecret, "events": h.Events, "created": h.Created.Format(time.RFC3339),
		"updated": h.Updated.Format(time.RFC3339), "deleted": false, "delivered": !h.LastDelivery.IsZero(),
		"last_delivery": nil, "response_code": h.LastStatus, "status": "active",
	}
	if !h.LastDelivery.IsZero() {
		o["last_delivery"] = h.LastDelivery.Format(time.RFC3339)
	}
	return o
}

// hookBody is what npm hook add and update send, with gatehouse's events.
type hookBody struct {
	Type     string   `json:"type"`
	Name     string   `json:"name"`
	Endpoint string   `json:"endpoint"`
	Secret   string   `json:"secret"`
	Events   []string `json:"events"`
}

func (a *API) hooksOff(w http.ResponseWriter, r *http.Request) bool {
	if a.opts.Hooks == nil {
		a.writeError(w, r, fault.NotFoundf("Not found"))
		return true
	}
	return false
}

// createHook serves POST /-/npm/v1/hooks/hook (npm hook add).
func (a *API) createHook(w http.ResponseWriter, r *http.Request) {
	if a.hooksOff(w, r) {
		return
	}
	var body hookBody
	if err := decodeJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	h, err := a.opts.Hooks.Create(r.Context(), principalOf(r), hook.Request{Type: body.Type, Name: body.Name,
		Endpoint: body.Endpoint, Secret: body.Secret, Events: body.Events})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, hookObject(h))
}

// listHooks serves GET /-/npm/v1/hooks (npm hook ls [pkg]): the caller's
// hooks, those watching ?package= only when it is given; ?all=true lists
// everyone's, for administrators.
func (a *API) listHooks(w http.ResponseWriter, r *http.Request) {
	if a.hooksOff(w, r) {
		return
	}
	qv := r.URL.Query()
	limit, err1 := optionalInt(qv.Get("limit"))
	offset, err2 := optionalInt(qv.Get("offset"))
	if err1 != nil || err2 != nil {
		a.writeError(w, r, fault.Invalidf("limit and offset are numbers"))
		return
	}
	list, total, err := a.opts.Hooks.List(r.Context(), principalOf(r), hook.ListOptions{Name: qv.Get("package"),
		All: qv.Get("all") == "true", Limit: limit, Offset: offset})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	objects := make([]map[string]any, len(list))
	for i, h := range list {
		objects[i] = hookObject(h)
	}
	writeJSON(w, http.StatusOK, map[string]any{"objects": objects, "total": total, "urls": map[string]any{}})
}

func optionalInt(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.Atoi(s)
}

// getHook serves GET /-/npm/v1/hooks/hook/:id.
func (a *API) getHook(w http.ResponseWriter, r *http.Request) {
	if a.hooksOff(w, r) {
		return
	}
	h, err := a.opts.Hooks.Get(r.Context(), principalOf(r), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, hookObject(h))
}

// updateHook serves PUT /-/npm/v1/hooks/hook/:id (npm hook update).
func (a *API) updateHook(w http.ResponseWriter, r *http.Request) {
	if a.hooksOff(w, r) {
		return
	}
	var body hookBody
	if err := decodeJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	h, err := a.opts.Hooks.Update(r.Context(), principalOf(r), r.PathValue("id"),
		hook.Request{Endpoint: body.Endpoint, Secret: body.Secret, Events: body.Events})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, hookObject(h))
}

// deleteHook serves DELETE /-/npm/v1/hooks/hook/:id (npm hook rm): the hook
// as it was.
func (a *API) deleteHook(w http.ResponseWriter, r *http.Request) {
	if a.hooksOff(w, r) {
		return
	}
	h, err := a.opts.Hooks.Delete(r.Context(), principalOf(r), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, hookObject(h))
}

// deliveryObject is one delivery of a hook and how its last attempt went.
func deliveryObject(d store.HookDelivery) map[string]any {
	o := map[string]any{"id": d.ID, "event": d.Event, "event_id": d.EventID, "state": d.State,
		"attempts": d.Attempts, "created": time.UnixMilli(d.CreatedAt).UTC().Format(time.RFC3339Nano),
		"status": d.Status, "duration_ms": d.DurationMS, "response": d.Response, "error": d.Error}
	if d.State == store.DeliveryPending {
		o["next_attempt"] = time.UnixMilli(d.NextAt).UTC().Format(time.RFC3339Nano)
	}
	return o
}

// hookDeliveries serves GET /-/npm/v1/hooks/hook/:id/deliveries.
func (a *API) hookDeliveries(w http.ResponseWriter, r *http.Request) {
	if a.hooksOff(w, r) {
		return
	}
	list, err := a.opts.Hooks.Deliveries(r.Context(), principalOf(r), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	objects := make([]map[string]any, len(list))
	for i, d := range list {
		objects[i] = deliveryObject(d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"objects": objects})
}

// redeliver serves POST /-/npm/v1/hooks/hook/:id/deliveries/:delivery/redeliver.
func (a *API) redeliver(w http.ResponseWriter, r *http.Request) {
	if a.hooksOff(w, r) {
		return
	}
	did, err := strconv.ParseInt(r.PathValue("delivery"), 10, 64)
	if err != nil {
		a.writeError(w, r, fault.NotFoundf("delivery not found"))
		return
	}
	id, err := a.opts.Hooks.Redeliver(r.Context(), principalOf(r), r.PathValue("id"), did)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id})
}
