package npmapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// profileObject is the profile as npm-profile reads it.
func profileObject(pr account.Profile) map[string]any {
	var tfa any = false
	if pr.TFAMode != "" {
		tfa = map[string]any{"mode": pr.TFAMode, "pending": pr.Pending}
	}
	return map[string]any{
		"name": pr.Name, "email": pr.Email, "email_verified": false, "tfa": tfa,
		"created": pr.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
		"updated": pr.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
}

func (a *API) getProfile(w http.ResponseWriter, r *http.Request) {
	pr, err := a.accounts.Profile(r.Context(), auth.FromContext(r.Context()))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, profileObject(pr))
}

// setProfile is npm profile set, enable-2fa and disable-2fa: POST /-/npm/v1/user
// with one of {"tfa": {"password", "mode"}}, {"tfa": ["<otp>"]},
// {"password": {"old", "new"}} or {"email": "..."}.
func (a *API) setProfile(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if err := decodeJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	p := auth.FromContext(ctx)
	var unsupported []string
	for k, v := range body {
		switch k {
		case "tfa", "password", "email":
		default:
			// npm profile get sends back what it read; unchanged empty fields are harmless.
			if string(v) != "null" && string(v) != `""` && k != "name" {
				unsupported = append(unsupported, k)
			}
		}
	}
	if len(unsupported) > 0 {
		sort.Strings(unsupported)
		a.writeError(w, r, fault.Invalidf("This registry does not keep the profile field(s): %s", strings.Join(unsupported, ", ")))
		return
	}
	if raw, ok := body["tfa"]; ok && string(raw) != "null" {
		var codes []string
		if json.Unmarshal(raw, &codes) == nil {
			if len(codes) != 1 {
				a.writeError(w, r, fault.Invalidf("tfa must hold exactly one one-time password"))
				return
			}
			recovery, err := a.accounts.ConfirmTFA(ctx, p, codes[0])
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"tfa": recovery})
			return
		}
		var req struct {
			Password string `json:"password"`
			Mode     string `json:"mode"`
		}
		if err := json.Unmarshal(raw, &req); err != nil {
			a.writeError(w, r, fault.Invalidf("tfa must be {\"password\", \"mode\"} or [\"<otp>\"]"))
			return
		}
		res, err := a.accounts.SetTFAMode(ctx, p, req.Password, req.Mode)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if res.OTPAuthURL != "" {
			writeJSON(w, http.StatusOK, map[string]any{"tfa": res.OTPAuthURL})
			return
		}
		a.getProfile(w, r)
		return
	}
	// The current password, when the body changes it: it confirms an
	// email change in the same body too.
	current := ""
	if raw, ok := body["password"]; ok && string(raw) != "null" {
		var req struct {
			Old string `json:"old"`
			New string `json:"new"`
		}
		if err := json.Unmarshal(raw, &req); err != nil {
			a.writeError(w, r, fault.Invalidf("password must be {\"old\", \"new\"}"))
			return
		}
		if err := a.accounts.ChangePassword(ctx, p, req.Old, req.New); err != nil {
			a.writeError(w, r, err)
			return
		}
		current = req.New
	}
	if raw, ok := body["email"]; ok && string(raw) != "null" {
		var email string
		if err := json.Unmarshal(raw, &email); err != nil {
			a.writeError(w, r, fault.Invalidf("email must be a string"))
			return
		}
		if err := a.accounts.SetEmail(ctx, p, email, current); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	a.getProfile(w, r)
}

// getAccess serves GET /-/package/:pkg/access: the package's access and
// two-factor requirement.
func (a *API) getAccess(w http.ResponseWriter, r *http.Request) {
	st, err := a.registry.Access(r.Context(), principalOf(r), r.PathValue("pkg"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	mfa := "none"
	switch {
	case st.MFA.PublishRequiresTFA && st.MFA.AutomationOverridesTFA:
		mfa = "automation"
	case st.MFA.PublishRequiresTFA:
		mfa = "publish"
	}
	writeJSON(w, http.StatusOK, map[string]any{"access": st.Access, "mfa": mfa,
		"publish_requires_tfa": st.MFA.PublishRequiresTFA, "automation_token_overrides_tfa": st.MFA.AutomationOverridesTFA})
}

// setAccess serves POST /-/package/:pkg/access: change the access or the
// two-factor requirement.
func (a *API) setAccess(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Access                 *store.Access `json:"access"`
		PublishRequiresTFA     *bool         `json:"publish_requires_tfa"`
		AutomationOverridesTFA *bool         `json:"automation_token_overrides_tfa"`
	}
	if err := decodeJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.respond(w, r, a.registry.SetAccess(r.Context(), principalOf(r), r.PathValue("pkg"), registry.AccessChange{
		Access: body.Access, PublishRequiresTFA: body.PublishRequiresTFA, AutomationOverridesTFA: body.AutomationOverridesTFA}))
}

// packageVisibility serves GET /-/package/:pkg/visibility (npm access get status).
func (a *API) packageVisibility(w http.ResponseWriter, r *http.Request) {
	st, err := a.registry.Access(r.Context(), principalOf(r), r.PathValue("pkg"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"public": st.Access == store.Public})
}
