package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// tokenPickerMax bounds the suggestions of the package and scope picker.
const tokenPickerMax = 1000

// tokenMaxIPInputs is how many "Allowed IP ranges" inputs the form offers at
// most (the service refuses more ranges than that anyway).
const tokenMaxIPInputs = 50

// tokenGranularForm is the granular token form as typed, carried from the
// form to the review page and back.
type tokenGranularForm struct {
	Name, Description string
	Expires           string // a number of days, or "custom"
	ExpiryDate        string // YYYY-MM-DD, used with "custom"
	CIDR              []string
	PackagePerm       string
	PackagesMode      string // "all" or "selected"
	Pick              string // the picker's input, not yet added
	Selected          []string
	OrgPerm           string
	Orgs              []string
	Bypass2FA         bool
}

// newTokenGranularForm is the form as first shown: a token that reads all
// the packages its user may read, for 30 days, which is what most people
// come for (installs in CI, a build server). Given only a name, the form
// makes that token; writing and organizations are chosen on purpose.
func newTokenGranularForm() tokenGranularForm {
	return tokenGranularForm{Expires: "30", CIDR: []string{""}, PackagePerm: string(auth.ReadOnly),
		PackagesMode: "all", OrgPerm: string(auth.NoAccess)}
}

// tokenSplitSelection splits a list of packages and scopes typed one per line (or
// separated by spaces or commas, which no name contains).
func tokenSplitSelection(values []string) []string {
	var out []string
	for _, v := range values {
		out = append(out, strings.FieldsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == ',' })...)
	}
	return out
}

// readTokenGranularForm reads the granular token form (or the review page's
// hidden fields) as typed, empty IP range inputs included.
func readTokenGranularForm(f url.Values) tokenGranularForm {
	g := tokenGranularForm{
		Name: strings.TrimSpace(f.Get("name")), Description: strings.TrimSpace(f.Get("description")),
		Expires: f.Get("expires"), ExpiryDate: strings.TrimSpace(f.Get("expiry_date")),
		PackagePerm: f.Get("packages_and_scopes_permission"), PackagesMode: f.Get("select_packages"),
		Pick: strings.TrimSpace(f.Get("pick")), Selected: tokenSplitSelection(f["selected"]),
		OrgPerm: f.Get("orgs_permission"), Bypass2FA: f.Get("bypass_2fa") != "",
	}
	for _, c := range f["cidr"] {
		g.CIDR = append(g.CIDR, strings.TrimSpace(c))
	}
	if len(g.CIDR) == 0 {
		g.CIDR = []string{""}
	}
	for _, o := range f["orgs"] {
		if o = strings.TrimSpace(o); o != "" && !slices.Contains(g.Orgs, o) {
			g.Orgs = append(g.Orgs, o)
		}
	}
	if g.PackagesMode != "selected" {
		g.PackagesMode = "all"
	}
	return g
}

// addPick moves what the picker holds into the selection.
func (g *tokenGranularForm) addPick() {
	for _, item := range tokenSplitSelection([]string{g.Pick}) {
		if !slices.Contains(g.Selected, item) {
			g.Selected = append(g.Selected, item)
		}
	}
	g.Pick = ""
}

// request turns the form into a token request. A problem with the date is
// returned apart, after the request without an expiry, so the service's
// checks of everything else come first.
func (g tokenGranularForm) request() (account.TokenRequest, error) {
	name, desc := g.Name, g.Description
	pkgPerm, orgPerm := g.PackagePerm, g.OrgPerm
	req := account.TokenRequest{GranularFieldGiven: true, Name: &name, Description: &desc,
		PackagePerm: &pkgPerm, OrgPerm: &orgPerm, Orgs: g.Orgs, Bypass2FA: g.Bypass2FA}
	for _, c := range g.CIDR {
		if c != "" {
			req.CIDR = append(req.CIDR, c)
		}
	}
	if g.PackagesMode == "all" {
		req.PackagesAll = true
	} else {
		for _, item := range g.Selected {
			if strings.HasPrefix(item, "@") && (!strings.Contains(item, "/") || strings.HasSuffix(item, "/")) {
				req.Scopes = append(req.Scopes, item)
			} else {
				req.Packages = append(req.Packages, item)
			}
		}
	}
	var dateErr error
	if g.Expires == "custom" {
		at, err := time.Parse("2006-01-02", g.ExpiryDate)
		switch {
		case g.ExpiryDate == "":
			dateErr = fault.Invalidf("Choose the expiration date, or a number of days")
		case err != nil:
			dateErr = fault.Invalidf("The expiration date must be a date such as 2030-12-31")
		default:
			// A date means the end of that day (UTC), as in the API.
			at = at.Add(24*time.Hour - time.Millisecond)
			req.ExpiresAt = &at
		}
	} else {
		days, err := strconv.Atoi(g.Expires)
		if err != nil {
			dateErr = fault.Invalidf("Choose an expiration")
		} else {
			req.ExpiresDays = &days
		}
	}
	return req, dateErr
}

// tokenChoice is an option of a select.
type tokenChoice struct{ Value, Label string }

var (
	tokenExpiryChoices = []tokenChoice{{"7", "7 days"}, {"30", "30 days"}, {"60", "60 days"}, {"90", "90 days"},
		{"custom", "Custom..."}}
	tokenPermissionChoices = []tokenChoice{{string(auth.NoAccess), "No access"}, {string(auth.ReadOnly), "Read-only"},
		{string(auth.ReadWrite), "Read and write"}}
	// tokenPackagePermissionChoices adds, for packages and scopes, the
	// stage-only permission (organizations have none).
	tokenPackagePermissionChoices = append(tokenPermissionChoices[:len(tokenPermissionChoices):len(tokenPermissionChoices)],
		tokenChoice{string(auth.ReadWriteStageOnly), "Read and stage (npm stage publish only)"})
)

// tokenOrgChoice is one organization of the form's checkboxes.
type tokenOrgChoice struct {
	Name    string
	Checked bool
}

// tokenIPInput is one of the "Allowed IP ranges" inputs.
type tokenIPInput struct {
	Index  int // from 0, for the id
	Number int // from 1, for the label
	Value  string
}

// tokenGranularView is the granular token form.
type tokenGranularView struct {
	Base        string
	Form        tokenGranularForm
	IPs         []tokenIPInput
	Expiries    []tokenChoice
	Permissions []tokenChoice
	// PackagePermissions are Permissions and the stage-only permission.
	PackagePermissions []tokenChoice
	Suggestions        []string // the picker's packages and scopes
	Orgs               []tokenOrgChoice
	MinDate            string // the earliest expiration date
	MaxWriteDays       int
	MaxIPs             bool // no more IP range inputs
	Error              string
}

// tokenGranularData builds the form around g: the user's packages, scopes and
// organizations to choose from.
func (s *Site) tokenGranularData(ctx context.Context, p *auth.Principal, g tokenGranularForm) (tokenGranularView, error) {
	v := tokenGranularView{Base: tokensBase(p.UserName), Form: g, Expiries: tokenExpiryChoices,
		Permissions: tokenPermissionChoices, PackagePermissions: tokenPackagePermissionChoices, MinDate: s.now().UTC().AddDate(0, 0, 1).Format("2006-01-02"),
		MaxWriteDays: s.accounts.TokenPolicy().MaxWriteTokenDays, MaxIPs: len(g.CIDR) >= tokenMaxIPInputs}
	for i, c := range g.CIDR {
		v.IPs = append(v.IPs, tokenIPInput{Index: i, Number: i + 1, Value: c})
	}
	packages, err := s.orgs.UserPackages(ctx, p, p.UserName)
	if err != nil {
		return v, fmt.Errorf("list the packages of %s: %w", p.UserName, err)
	}
	names := make([]string, 0, len(packages))
	for n := range packages {
		names = append(names, n)
	}
	sort.Strings(names)
	memberships, err := s.orgs.Memberships(ctx, p)
	if err != nil {
		return v, fmt.Errorf("list the organizations of %s: %w", p.UserName, err)
	}
	v.Suggestions = append(v.Suggestions, "@"+p.UserName)
	seen := map[string]bool{}
	for _, m := range memberships {
		v.Suggestions = append(v.Suggestions, "@"+m.Org.Name)
		v.Orgs = append(v.Orgs, tokenOrgChoice{Name: m.Org.Name, Checked: slices.Contains(g.Orgs, m.Org.Name)})
		seen[m.Org.Name] = true
	}
	// An organization chosen but no longer the user's stays on the form, so
	// the service can say what is wrong with it.
	for _, o := range g.Orgs {
		if !seen[o] {
			v.Orgs = append(v.Orgs, tokenOrgChoice{Name: o, Checked: true})
		}
	}
	v.Suggestions = append(v.Suggestions, names...)
	if len(v.Suggestions) > tokenPickerMax {
		v.Suggestions = v.Suggestions[:tokenPickerMax]
	}
	return v, nil
}

// renderTokenGranular shows the granular token form with g filled in.
func (s *Site) renderTokenGranular(w http.ResponseWriter, r *http.Request, p *auth.Principal, status int, g tokenGranularForm, msg string) {
	v, err := s.tokenGranularData(r.Context(), p, g)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.Error = msg
	s.render(w, r, status, "tokens_granular.html", "New granular access token", v)
}

// granularTokenPage shows the granular token form, empty.
func (s *Site) granularTokenPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	s.renderTokenGranular(w, r, p, http.StatusOK, newTokenGranularForm(), "")
}

// granularTokenStep answers the granular token form and its review page.
// The form's buttons say what to do: add an IP range or a package input
// (the no-JavaScript way of the "Add" buttons), go to the review, go back to
// editing, or create the token.
func (s *Site) granularTokenStep(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	g := readTokenGranularForm(r.PostForm)
	switch r.PostForm.Get("step") {
	case "add-ip":
		if len(g.CIDR) < tokenMaxIPInputs {
			g.CIDR = append(g.CIDR, "")
		}
		s.renderTokenGranular(w, r, p, http.StatusOK, g, "")
		return
	case "add-package":
		g.addPick()
		g.PackagesMode = "selected"
		s.renderTokenGranular(w, r, p, http.StatusOK, g, "")
		return
	case "edit":
		s.renderTokenGranular(w, r, p, http.StatusOK, g, "")
		return
	case "create":
		s.createTokenGranular(w, r, p, g)
		return
	}
	g.addPick()
	if plan, ok := s.checkTokenGranular(w, r, p, g); ok {
		s.renderTokenReview(w, r, p, http.StatusOK, g, plan, "", false)
	}
}

// checkTokenGranular runs the service's checks on the form without creating
// anything, and returns the token it would make. When the form does not
// pass, it answers with the form and what is wrong with it, and ok is false.
func (s *Site) checkTokenGranular(w http.ResponseWriter, r *http.Request, p *auth.Principal, g tokenGranularForm) (account.TokenInfo, bool) {
	req, dateErr := g.request()
	plan, err := s.accounts.PreviewToken(req)
	if err == nil {
		err = dateErr
	}
	if err != nil {
		if msg, status, _, ok := s.tokenFormError(w, r, err); ok {
			s.renderTokenGranular(w, r, p, status, g, msg)
		}
		return plan, false
	}
	return plan, true
}
