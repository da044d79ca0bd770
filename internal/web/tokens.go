package web

import (
	"context"
	"fmt"
	"log/slog"
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

// The Access Tokens pages (the seed's "Creating and viewing access tokens"):
// the list of a user's tokens and sessions, the forms for classic and
// granular tokens, the granular token's review step, and the confirmation
// before a token is deleted. Every rule and message comes from the account
// service, the same as the npm API's.
//
// A new token's string is shown once, in the answer to the form that created
// it: it is never put in a URL, a cookie or any store, so no later page can
// show it again.

// tokenListPageSize is how many tokens one page of the list shows.
const tokenListPageSize = 50

// tokenPickerMax bounds the suggestions of the package and scope picker.
const tokenPickerMax = 1000

// tokenMaxIPInputs is how many "Allowed IP ranges" inputs the form offers at
// most (the service refuses more ranges than that anyway).
const tokenMaxIPInputs = 50

// tokenRoutes registers the Access Tokens pages: a person's own, which
// nobody else can see.
func (s *Site) tokenRoutes() {
	s.mux.HandleFunc("GET /settings/{user}/tokens", s.tokensPage)
	s.mux.HandleFunc("GET /settings/{user}/tokens/new/classic", s.classicTokenPage)
	s.mux.HandleFunc("POST /settings/{user}/tokens/new/classic", s.createClassicToken)
	s.mux.HandleFunc("GET /settings/{user}/tokens/new/granular", s.granularTokenPage)
	s.mux.HandleFunc("POST /settings/{user}/tokens/new/granular", s.granularTokenStep)
	s.mux.HandleFunc("GET /settings/{user}/tokens/{key}/delete", s.deleteTokenPage)
	s.mux.HandleFunc("POST /settings/{user}/tokens/{key}/delete", s.deleteToken)
	s.mux.HandleFunc("POST /settings/{user}/tokens/sessions/{key}/revoke", s.revokeTokenSession)
}

// tokensBase is the address of a user's Access Tokens page.
func tokensBase(user string) string { return "/settings/" + url.PathEscape(user) + "/tokens" }

// tokenTwoFactorOn reports whether p's user has two-factor authentication on,
// so the forms ask for a one-time password.
func (s *Site) tokenTwoFactorOn(ctx context.Context, p *auth.Principal) (bool, error) {
	pr, err := s.accounts.Profile(ctx, p)
	if err != nil {
		return false, fmt.Errorf("read the profile of %s: %w", p.UserName, err)
	}
	return tfaOn(pr), nil
}

// tokenFormError splits a service error into the message and status shown
// beside a form, and whether it was an OTP challenge. Internal errors are
// rendered as the error page, and ok is false.
func (s *Site) tokenFormError(w http.ResponseWriter, r *http.Request, err error) (msg string, status int, otp bool, ok bool) {
	msg, status, ok = s.faultForForm(w, r, err)
	e, _ := fault.As(err)
	return msg, status, ok && e.Challenge == "OTP", ok
}

// tokenTypeLabel names a kind of token as the list shows it.
func tokenTypeLabel(kind string) string {
	switch auth.Kind(kind) {
	case auth.KindGranular:
		return "Granular"
	case auth.KindReadOnly:
		return "Classic: Read-only"
	case auth.KindAutomation:
		return "Classic: Automation"
	case auth.KindPublish:
		return "Classic: Publish"
	}
	return kind
}

// tokenSessionLabel names how a session was started, from its stored label.
func tokenSessionLabel(label string) string {
	switch label {
	case "website":
		return "Website sign-in"
	case "login session":
		return "npm login"
	case "web login":
		return "npm login (in the browser)"
	}
	return label
}

// tokenPermissionLabel names a permission as the forms do.
func tokenPermissionLabel(p auth.Permission) string {
	switch p {
	case auth.ReadOnly:
		return "Read-only"
	case auth.ReadWrite:
		return "Read and write"
	case auth.ReadWriteStageOnly:
		return "Read and stage"
	}
	return "No access"
}

// ---- The list ----

// tokenRow is one token of the list, or the token the delete page is about.
type tokenRow struct {
	Key, Name, Description string
	Type                   string
	Masked                 string // first 8 and last 4 characters
	Summary                string // what it may do
	CIDR                   []string
	Created                time.Time
	HasExpiry, Expired     bool
	Expires                time.Time
	Used                   bool
	LastUsed               time.Time
	LastUsedIP             string
}

// tokenRowOf describes a stored token for the list and the delete page.
func tokenRowOf(info account.TokenInfo, now time.Time) tokenRow {
	rec := info.Record
	row := tokenRow{Key: rec.Key, Name: rec.Name, Description: rec.Description, Type: tokenTypeLabel(rec.Kind),
		Masked: rec.Masked, Summary: info.Summary(), CIDR: info.CIDR, Created: time.UnixMilli(rec.CreatedAt),
		Expired: info.Expired(now)}
	if rec.ExpiresAt.Valid {
		row.HasExpiry, row.Expires = true, time.UnixMilli(rec.ExpiresAt.Int64)
	}
	if rec.LastUsedAt.Valid {
		row.Used, row.LastUsed, row.LastUsedIP = true, time.UnixMilli(rec.LastUsedAt.Int64), rec.LastUsedIP
	}
	return row
}

// tokenSessionRow is one login session of the list.
type tokenSessionRow struct {
	Key, Label string
	Current    bool // the session of this browser
	Created    time.Time
	Expires    time.Time
	Used       bool
	LastUsed   time.Time
	LastUsedIP string
}

// tokenCreated is the token just created, shown once at the top of the list.
type tokenCreated struct {
	Token, Name, Type string
}

// tokenListView is the Access Tokens page.
type tokenListView struct {
	Base     string
	New      *tokenCreated
	Notice   string
	Tokens   []tokenRow
	Total    int
	Page     int // from 1
	Prev     int // the previous page, 0 when none
	Next     int // the next page, 0 when none
	Sessions []tokenSessionRow
	Legacy   bool // classic tokens may be created
}

// tokenNotices are the notices a redirect to the list may ask for.
var tokenNotices = map[string]string{
	"deleted": "The token was deleted.",
	"revoked": "The session was revoked.",
}

// tokenList reads one page (from 1) of p's tokens and all their sessions.
func (s *Site) tokenList(ctx context.Context, p *auth.Principal, page int) (tokenListView, error) {
	v := tokenListView{Base: tokensBase(p.UserName), Page: page, Legacy: s.accounts.TokenPolicy().LegacyTokens}
	res, err := s.accounts.ListTokens(ctx, p, page-1, tokenListPageSize)
	if err != nil {
		return v, fmt.Errorf("list the tokens of %s: %w", p.UserName, err)
	}
	now := s.now()
	for _, t := range res.Tokens {
		v.Tokens = append(v.Tokens, tokenRowOf(t, now))
	}
	v.Total = res.Total
	if page > 1 {
		v.Prev = page - 1
	}
	if page*tokenListPageSize < res.Total {
		v.Next = page + 1
	}
	sessions, err := s.accounts.Sessions(ctx, p)
	if err != nil {
		return v, err
	}
	for _, t := range sessions {
		row := tokenSessionRow{Key: t.Key, Label: tokenSessionLabel(t.Name), Current: t.Key == p.TokenKey,
			Created: time.UnixMilli(t.CreatedAt), Expires: time.UnixMilli(t.ExpiresAt.Int64)}
		if t.LastUsedAt.Valid {
			row.Used, row.LastUsed, row.LastUsedIP = true, time.UnixMilli(t.LastUsedAt.Int64), t.LastUsedIP
		}
		v.Sessions = append(v.Sessions, row)
	}
	return v, nil
}

// renderTokenList shows the list; created, when not nil, is the token just
// made, whose string this one answer carries.
func (s *Site) renderTokenList(w http.ResponseWriter, r *http.Request, p *auth.Principal, status int, created *tokenCreated) {
	v, err := s.tokenList(r.Context(), p, 1)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.New = created
	s.render(w, r, status, "tokens.html", "Access Tokens", v)
}

// tokensPage is the Access Tokens page: the tokens, a page at a time, and
// the sessions. It never shows a whole token.
func (s *Site) tokensPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 || page > 1000 {
		page = 1
	}
	v, err := s.tokenList(r.Context(), p, page)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	for key, msg := range tokenNotices {
		if q.Has(key) {
			v.Notice = msg
		}
	}
	s.render(w, r, http.StatusOK, "tokens.html", "Access Tokens", v)
}

// tokenCreatedPage answers a successful creation: the list, with the new
// token at the top, this once.
func (s *Site) tokenCreatedPage(w http.ResponseWriter, r *http.Request, p *auth.Principal, created account.CreatedToken) {
	rec := created.Record
	s.log.InfoContext(r.Context(), "token created", slog.String("user", p.UserName), slog.String("key", rec.Key),
		slog.String("type", rec.Kind), slog.String("via", "website"))
	s.renderTokenList(w, r, p, http.StatusCreated, &tokenCreated{Token: created.Token, Name: rec.Name,
		Type: tokenTypeLabel(rec.Kind)})
}

// ---- Classic tokens ----

// tokenClassicType is one kind of classic token, with the seed's explanation.
type tokenClassicType struct{ Value, Label, Hint string }

var tokenClassicTypes = []tokenClassicType{
	{"read-only", "Read-only", "A read-only token can only be used to download packages from the registry. " +
		"It will have permission to read any private package that you have access to. This is recommended for " +
		"automation and workflows where you are installing packages, but not publishing new ones."},
	{"automation", "Automation", "An automation token can download packages and publish new ones, but if you " +
		"have two-factor authentication (2FA) configured on your account, it will not be enforced. You can use an " +
		"automation token in continuous integration workflows and other automation systems to publish a package " +
		"even when you cannot enter a one-time passcode."},
	{"publish", "Publish", "A publish token can perform any action on your behalf, including downloading " +
		"packages, publishing packages, and changing user settings or package settings. If you have two-factor " +
		"authentication configured on your account, you will be required to enter a one-time passcode when using " +
		"a publish token. This is recommended for interactive workflows such as a CLI."},
}

// tokenClassicView is the classic token form.
type tokenClassicView struct {
	Base      string
	Name      string
	Type      string
	Types     []tokenClassicType
	TwoFactor bool   // ask for a one-time password
	Disabled  string // why classic tokens cannot be created, if they cannot
	Error     string
}

// tokenClassicData is the classic token form for p, empty, with Read-only chosen.
func (s *Site) tokenClassicData(ctx context.Context, p *auth.Principal) (tokenClassicView, error) {
	v := tokenClassicView{Base: tokensBase(p.UserName), Type: "read-only", Types: tokenClassicTypes}
	on, err := s.tokenTwoFactorOn(ctx, p)
	if err != nil {
		return v, err
	}
	v.TwoFactor = on
	if !s.accounts.TokenPolicy().LegacyTokens {
		ro := true
		if err := s.accounts.CheckTokenRequest(account.TokenRequest{ReadOnly: &ro}); err != nil {
			v.Disabled = err.Error()
		}
	}
	return v, nil
}

// classicTokenPage shows the classic token form.
func (s *Site) classicTokenPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	v, err := s.tokenClassicData(r.Context(), p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "tokens_classic.html", "New classic token", v)
}

// createClassicToken creates a read-only, automation or publish token.
func (s *Site) createClassicToken(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	v, err := s.tokenClassicData(r.Context(), p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	f := r.PostForm
	v.Name, v.Type = strings.TrimSpace(f.Get("name")), f.Get("type")
	// The password is asked for, and the one-time password with 2FA on, even
	// though the person is signed in: a token outlives the session, so making
	// one confirms it is really them (the safer behaviour, as npm's CLI asks).
	req := account.TokenRequest{Password: f.Get("password")}
	yes, no := true, false
	switch v.Type {
	case "read-only":
		req.ReadOnly = &yes
	case "automation":
		req.Automation = &yes
	case "publish":
		req.ReadOnly = &no
	default:
		v.Type, v.Error = "", "Select the type of access token: Read-only, Automation or Publish."
		s.render(w, r, http.StatusBadRequest, "tokens_classic.html", "New classic token", v)
		return
	}
	if v.Name != "" {
		req.Name = &v.Name
	}
	if !s.firstUse(r.PostForm.Get("once")) {
		s.tokenResubmitted(w, r, p)
		return
	}
	created, err := s.accounts.CreateToken(ctxWithFormOTP(r, "otp"), p, req)
	if err != nil {
		s.release(r.PostForm.Get("once"))
		msg, status, otp, ok := s.tokenFormError(w, r, err)
		if !ok {
			return
		}
		v.Error, v.TwoFactor = msg, v.TwoFactor || otp
		s.render(w, r, status, "tokens_classic.html", "New classic token", v)
		return
	}
	s.tokenCreatedPage(w, r, p, created)
}

// ---- Granular tokens ----

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

// newTokenGranularForm is the form as first shown.
func newTokenGranularForm() tokenGranularForm {
	return tokenGranularForm{Expires: "30", CIDR: []string{""}, PackagePerm: string(auth.NoAccess),
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
	Base         string
	Form         tokenGranularForm
	IPs          []tokenIPInput
	Expiries     []tokenChoice
	Permissions  []tokenChoice
	Suggestions  []string // the picker's packages and scopes
	Orgs         []tokenOrgChoice
	MinDate      string // the earliest expiration date
	MaxWriteDays int
	MaxIPs       bool // no more IP range inputs
	Error        string
}

// tokenGranularData builds the form around g: the user's packages, scopes and
// organizations to choose from.
func (s *Site) tokenGranularData(ctx context.Context, p *auth.Principal, g tokenGranularForm) (tokenGranularView, error) {
	v := tokenGranularView{Base: tokensBase(p.UserName), Form: g, Expiries: tokenExpiryChoices,
		Permissions: tokenPermissionChoices, MinDate: s.now().UTC().AddDate(0, 0, 1).Format("2006-01-02"),
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

// tokenReviewView is the summary of a granular token before it is created.
type tokenReviewView struct {
	Base        string
	Form        tokenGranularForm
	ExpiresIn   string // the choice: "30 days" or "Custom"
	Expires     time.Time
	CIDR        []string
	PackagePerm string
	PackagesAll bool
	Packages    []string // packages and @scopes
	OrgPerm     string
	Orgs        []string
	Bypass2FA   bool
	TwoFactor   bool // ask for a one-time password
	Error       string
}

// renderTokenReview shows the review page of the token plan will create.
func (s *Site) renderTokenReview(w http.ResponseWriter, r *http.Request, p *auth.Principal, status int, g tokenGranularForm,
	plan account.TokenInfo, msg string, needOTP bool) {
	on, err := s.tokenTwoFactorOn(r.Context(), p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	gr := plan.Grants
	v := tokenReviewView{Base: tokensBase(p.UserName), Form: g, CIDR: plan.CIDR,
		PackagePerm: tokenPermissionLabel(gr.PackagePerm), PackagesAll: gr.PackagesAll, OrgPerm: tokenPermissionLabel(gr.OrgPerm),
		Orgs: gr.Orgs, Bypass2FA: plan.Record.Bypass2FA, TwoFactor: on || needOTP, Error: msg}
	v.Packages = append(v.Packages, gr.Packages...)
	for _, sc := range gr.Scopes {
		v.Packages = append(v.Packages, "@"+sc)
	}
	v.Expires = time.UnixMilli(plan.Record.ExpiresAt.Int64)
	v.ExpiresIn = "Custom"
	for _, c := range tokenExpiryChoices {
		if c.Value == g.Expires && c.Value != "custom" {
			v.ExpiresIn = c.Label
		}
	}
	s.render(w, r, status, "tokens_review.html", "Review the new token", v)
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
	plan, err := s.checkTokenGranular(g)
	if err != nil {
		msg, status, _, ok := s.tokenFormError(w, r, err)
		if ok {
			s.renderTokenGranular(w, r, p, status, g, msg)
		}
		return
	}
	s.renderTokenReview(w, r, p, http.StatusOK, g, plan, "", false)
}

// checkTokenGranular runs the service's checks on the form without creating
// anything, and returns the token it would make.
func (s *Site) checkTokenGranular(g tokenGranularForm) (account.TokenInfo, error) {
	req, dateErr := g.request()
	plan, err := s.accounts.PreviewToken(req)
	if err != nil {
		return plan, err
	}
	return plan, dateErr
}

// createTokenGranular creates the token the review page describes.
func (s *Site) createTokenGranular(w http.ResponseWriter, r *http.Request, p *auth.Principal, g tokenGranularForm) {
	plan, err := s.checkTokenGranular(g)
	if err != nil {
		// The choices no longer pass (a hand-made form): back to the form.
		msg, status, _, ok := s.tokenFormError(w, r, err)
		if ok {
			s.renderTokenGranular(w, r, p, status, g, msg)
		}
		return
	}
	req, _ := g.request()
	// The password is required, and the one-time password with 2FA on, even
	// though the person is signed in: a token outlives the session, so making
	// one confirms it is really them (the safer behaviour, as npm's CLI asks).
	req.Password = r.PostForm.Get("password")
	if !s.firstUse(r.PostForm.Get("once")) {
		s.tokenResubmitted(w, r, p)
		return
	}
	created, err := s.accounts.CreateToken(ctxWithFormOTP(r, "otp"), p, req)
	if err != nil {
		s.release(r.PostForm.Get("once"))
		msg, status, otp, ok := s.tokenFormError(w, r, err)
		if ok {
			s.renderTokenReview(w, r, p, status, g, plan, msg, otp)
		}
		return
	}
	s.tokenCreatedPage(w, r, p, created)
}

// ---- Deleting tokens, revoking sessions ----

// tokenDeleteView is the confirmation before a token is deleted.
type tokenDeleteView struct {
	Base      string
	Token     tokenRow
	TwoFactor bool
	Error     string
}

// renderTokenDelete shows the confirmation page of token key.
func (s *Site) renderTokenDelete(w http.ResponseWriter, r *http.Request, p *auth.Principal, status int, msg string, needOTP bool) {
	info, err := s.accounts.TokenByKey(r.Context(), p, r.PathValue("key"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	on, err := s.tokenTwoFactorOn(r.Context(), p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := tokenDeleteView{Base: tokensBase(p.UserName), Token: tokenRowOf(info, s.now()), TwoFactor: on || needOTP, Error: msg}
	s.render(w, r, status, "tokens_delete.html", "Delete token", v)
}

// deleteTokenPage asks for confirmation before a token is deleted.
func (s *Site) deleteTokenPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	s.renderTokenDelete(w, r, p, http.StatusOK, "", false)
}

// deleteToken revokes a token (sessions have their own button), with the
// one-time password that 2FA asks of token changes.
func (s *Site) deleteToken(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	key := r.PathValue("key")
	if _, err := s.accounts.TokenByKey(r.Context(), p, key); err != nil {
		s.renderError(w, r, err)
		return
	}
	rec, err := s.accounts.RevokeToken(ctxWithFormOTP(r, "otp"), p, key)
	if err != nil {
		msg, status, otp, ok := s.tokenFormError(w, r, err)
		if ok {
			s.renderTokenDelete(w, r, p, status, msg, otp)
		}
		return
	}
	s.log.InfoContext(r.Context(), "token revoked", slog.String("user", p.UserName), slog.String("key", rec.Key),
		slog.String("via", "website"))
	http.Redirect(w, r, tokensBase(p.UserName)+"?deleted", http.StatusSeeOther)
}

// revokeTokenSession ends one of the user's login sessions; ending this browser's
// own signs it out.
func (s *Site) revokeTokenSession(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	rec, err := s.accounts.RevokeSession(r.Context(), p, r.PathValue("key"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "session revoked", slog.String("user", p.UserName), slog.String("key", rec.Key),
		slog.String("via", "website"))
	if rec.Key == p.TokenKey {
		s.clearSession(w)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, tokensBase(p.UserName)+"?revoked", http.StatusSeeOther)
}

// tokenResubmitted answers a token form sent a second time (a reload after
// the token was created): nothing is created again; the list says why.
func (s *Site) tokenResubmitted(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	view, err := s.tokenList(r.Context(), p, 0)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	view.Notice = "This form was already submitted, so no second token was created. Generate a new token to get another."
	s.render(w, r, http.StatusConflict, "tokens.html", "Access Tokens", view)
}
