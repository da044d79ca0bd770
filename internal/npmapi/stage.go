package npmapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Staged publishing (npm stage, npm 11.15 and later): the endpoints of
// lib/commands/stage/*.js and libnpmpublish's stage route.

// stagedItem is a staged version as npm stage list and view print it.
type stagedItem struct {
	ID          string `json:"id"`
	PackageName string `json:"packageName"`
	Version     string `json:"version"`
	Status      string `json:"status"`
	Tag         string `json:"tag"`
	CreatedAt   string `json:"createdAt"`
	Actor       string `json:"actor"`
	ActorType   string `json:"actorType"`
	Shasum      string `json:"shasum"`
	Access      string `json:"access"`
}

// stagedStatus is every staged version's status: ready to approve
// (gatehouse runs its checks before it answers the upload).
const stagedStatus = "staged"

func itemOf(st store.Staged) stagedItem {
	var tags map[string]string
	_ = json.Unmarshal(st.Tags, &tags)
	tag := "latest"
	if _, ok := tags["latest"]; !ok && len(tags) > 0 {
		names := make([]string, 0, len(tags))
		for t := range tags {
			names = append(names, t)
		}
		slices.Sort(names)
		tag = names[0]
	}
	// What the version's package will be once approved: an existing
	// package keeps its access; a new one takes the upload's, or the
	// default (restricted for a scoped name).
	access := "public"
	switch {
	case st.PackageAccess != "":
		if st.PackageAccess == store.Restricted {
			access = "private"
		}
	case st.Access == store.Restricted, st.Access == "" && st.Scope != "":
		access = "private"
	}
	return stagedItem{ID: st.ID, PackageName: st.Name, Version: st.Version, Status: stagedStatus, Tag: tag,
		CreatedAt: time.UnixMilli(st.CreatedAt).UTC().Format("2006-01-02T15:04:05.000Z"), Actor: st.ActorName,
		ActorType: st.ActorType, Shasum: st.Shasum, Access: access}
}

// stagePublish serves POST /-/stage/package/:pkg (npm stage publish): the
// body of a publish, answered 201 {"stageId": ...}.
func (a *API) stagePublish(w http.ResponseWriter, r *http.Request) {
	id, err := a.registry.Stage(r.Context(), principalOf(r), r.PathValue("pkg"), r.Body)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"ok": true, "stageId": id})
}

// maxStagedFilter bounds the package filter of a list (npm's names are at
// most 214 characters).
const maxStagedFilter = 214

// stageList serves GET /-/stage?page=&perPage=&package= (npm stage list):
// {items, total, page, perPage}, total counting every item the filter
// shows (npm pages until it has them all).
func (a *API) stageList(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	sq := registry.StagedQuery{Package: query.Get("package"), PerPage: registry.MaxStagedPage}
	if len(sq.Package) > maxStagedFilter {
		a.writeError(w, r, fault.Invalidf("package must be at most %d characters", maxStagedFilter))
		return
	}
	for _, f := range []struct {
		key string
		to  *int
	}{{"page", &sq.Page}, {"perPage", &sq.PerPage}} {
		raw := query.Get(f.key)
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil {
			a.writeError(w, r, fault.Invalidf("%s must be a whole number", f.key))
			return
		}
		*f.to = n
	}
	rows, total, err := a.registry.StagedList(r.Context(), principalOf(r), sq)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]stagedItem, 0, len(rows))
	for _, st := range rows {
		items = append(items, itemOf(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": total, "page": sq.Page, "perPage": sq.PerPage})
}

// stageView serves GET /-/stage/:id (npm stage view).
func (a *API) stageView(w http.ResponseWriter, r *http.Request) {
	st, err := a.registry.Staged(r.Context(), principalOf(r), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, itemOf(st))
}

// stageTarball serves GET /-/stage/:id/tarball (npm stage download).
func (a *API) stageTarball(w http.ResponseWriter, r *http.Request) {
	t, err := a.registry.StagedTarball(r.Context(), principalOf(r), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h := w.Header()
	h["Content-Type"] = typeOctets
	h["Cache-Control"] = []string{"private, no-store"}
	if t.Data != nil {
		http.ServeContent(w, r, "", t.Published, bytes.NewReader(t.Data))
		return
	}
	defer t.Reader.Close()
	http.ServeContent(w, r, "", t.Published, t.Reader)
}

// stageApprove serves POST /-/stage/:id/approve (npm stage approve).
func (a *API) stageApprove(w http.ResponseWriter, r *http.Request) {
	if err := a.registry.Approve(r.Context(), principalOf(r), r.PathValue("id")); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"ok": true,
		"message": "Package version approved and published successfully."})
}

// stageReject serves DELETE /-/stage/:id (npm stage reject): 204.
func (a *API) stageReject(w http.ResponseWriter, r *http.Request) {
	if err := a.registry.Reject(r.Context(), principalOf(r), r.PathValue("id")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// attestations serves GET /-/npm/v1/attestations/:pkg@:version (pacote,
// npm audit signatures): {"attestations": [{predicateType, bundle}]}.
func (a *API) attestations(w http.ResponseWriter, r *http.Request) {
	spec := r.PathValue("spec")
	at := strings.LastIndexByte(spec, '@')
	if at <= 0 || at == len(spec)-1 {
		a.writeError(w, r, fault.NotFoundf("Not found"))
		return
	}
	att, err := a.registry.Attestations(r.Context(), principalOf(r), spec[:at], spec[at+1:])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"attestations": []map[string]any{
		{"predicateType": att.PredicateType, "bundle": json.RawMessage(att.Bundle)}}})
}
