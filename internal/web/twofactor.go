package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	template "github.com/DataDog/datadog-agent/pkg/template/html"
	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"rsc.io/qr"
)

// tfaOn reports whether a profile has two-factor authentication on and confirmed.
func tfaOn(pr account.Profile) bool { return pr.TFAMode != "" && !pr.Pending }

// tfaModeLabel names a two-factor mode as the pages do.
func tfaModeLabel(mode store.TFAMode) string {
	switch mode {
	case store.TFAAuthOnly:
		return "Authorization only"
	case store.TFAAuthAndWrites:
		return "Authorization and writes"
	}
	return string(mode)
}

// profileView is the profile page: the account, and the forms to change its
// email and password.
type profileView struct {
	Profile   account.Profile
	TwoFactor bool   // 2FA is on
	NeedOTP   bool   // the forms ask for a one-time password
	ModeLabel string // the 2FA mode, as shown
	Email     string // the email form's value

	EmailError, PasswordError string
	Notice                    string

	// SSO lists the single sign-on providers and whether the account is
	// linked to each (docs/sso.md).
	SSO []ssoLink
}

// profileData reads p's profile into a view with the email form filled in.
func (s *Site) profileData(ctx context.Context, p *auth.Principal) (profileView, error) {
	pr, err := s.accounts.Profile(ctx, p)
	if err != nil {
		return profileView{}, err
	}
	v := profileView{Profile: pr, TwoFactor: tfaOn(pr), Email: pr.Email}
	if v.TwoFactor {
		v.ModeLabel = tfaModeLabel(pr.TFAMode)
	}
	if v.NeedOTP, err = s.accounts.NeedsOTP(ctx, p, policy.OTPProfile); err != nil {
		return profileView{}, err
	}
	if v.SSO, err = s.ssoLinks(ctx, p); err != nil {
		return profileView{}, err
	}
	return v, nil
}

func (s *Site) profilePage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	v, err := s.profileData(r.Context(), p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "profile.html", "Profile", v)
}

// changeEmail sets a new email; with 2FA on, the form carries an OTP.
func (s *Site) changeEmail(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	err := s.accounts.SetEmail(ctxWithFormOTP(r, "otp"), p, email, r.PostForm.Get("password"))
	s.renderProfileChange(w, r, p, err, "Your email is now "+email+".", func(v *profileView, msg string) {
		v.EmailError, v.Email = msg, email
	})
}

// renderProfileChange shows the profile page after a change: with the
// change's error in the form that made it (failed), or with notice.
func (s *Site) renderProfileChange(w http.ResponseWriter, r *http.Request, p *auth.Principal, err error, notice string, failed func(v *profileView, msg string)) {
	v, lerr := s.profileData(r.Context(), p)
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	status := http.StatusOK
	if err != nil {
		msg, st, ok := s.faultForForm(w, r, err)
		if !ok {
			return
		}
		status = st
		failed(&v, msg)
	} else {
		v.Notice = notice
	}
	s.render(w, r, status, "profile.html", "Profile", v)
}

// changePassword replaces the password, given the current one (and an OTP
// with 2FA on); the account service applies the password rules.
func (s *Site) changePassword(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	f := r.PostForm
	change := s.accounts.ChangePassword
	revokeTokens := f.Get("revoke_tokens") != ""
	if revokeTokens {
		change = s.accounts.ChangePasswordRevokeTokens
	}
	err := change(ctxWithFormOTP(r, "otp"), p, f.Get("current_password"), f.Get("new_password"))
	notice := "Your password is changed, and your other sessions are signed out."
	if revokeTokens {
		notice = "Your password is changed, your other sessions are signed out and your access tokens revoked."
	}
	s.renderProfileChange(w, r, p, err, notice, func(v *profileView, msg string) { v.PasswordError = msg })
}

// twoFactorView is the two-factor page in each of its states: off (the
// enable form), set up (the QR code and the confirmation form), just
// confirmed (the recovery codes, shown this once), and on (mode and disable
// forms).
type twoFactorView struct {
	Mode      string // the confirmed mode; "" when off
	ModeLabel string
	Pending   bool   // enabling was started and never confirmed
	Choice    string // the mode radio selected
	Error     string
	Notice    string
	Setup     *tfaSetup
	Codes     []string // recovery codes, only in the response that confirms
	Modes     []tfaModeChoice
}

// tfaModeChoice is one mode radio.
type tfaModeChoice struct{ Value, Label, Hint string }

// tfaSetup is what an authenticator app needs: the otpauth URL as a QR code
// and its secret as text.
type tfaSetup struct {
	URL    string
	QR     template.HTML
	Secret string
}

// tfaModes are the modes a person can choose, in the order shown.
var tfaModes = []tfaModeChoice{
	{string(store.TFAAuthOnly), "Authorization only", "A one-time password to sign in and to change your profile, tokens and two-factor settings."},
	{string(store.TFAAuthAndWrites), "Authorization and writes", "Also for publishing, changing packages and changing organizations."},
}

// twoFactorData reads p's two-factor state into a view.
func (s *Site) twoFactorData(ctx context.Context, p *auth.Principal) (twoFactorView, error) {
	pr, err := s.accounts.Profile(ctx, p)
	if err != nil {
		return twoFactorView{}, err
	}
	v := twoFactorView{Pending: pr.Pending, Choice: string(store.TFAAuthAndWrites), Modes: tfaModes}
	if tfaOn(pr) {
		v.Mode, v.ModeLabel, v.Choice = string(pr.TFAMode), tfaModeLabel(pr.TFAMode), string(pr.TFAMode)
	}
	return v, nil
}

// renderTwoFactor shows the two-factor page with p's current state, then
// what the handler sets on it.
func (s *Site) renderTwoFactor(w http.ResponseWriter, r *http.Request, p *auth.Principal, status int, set func(v *twoFactorView)) {
	v, err := s.twoFactorData(r.Context(), p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	set(&v)
	s.render(w, r, status, "twofactor.html", "Two-factor authentication", v)
}

// twoFactorFailed shows the page again with a service error's message; the
// mode chosen stays chosen.
func (s *Site) twoFactorFailed(w http.ResponseWriter, r *http.Request, p *auth.Principal, err error, set func(v *twoFactorView)) {
	msg, status, ok := s.faultForForm(w, r, err)
	if !ok {
		return
	}
	s.renderTwoFactor(w, r, p, status, func(v *twoFactorView) {
		v.Error = msg
		if c := r.PostForm.Get("mode"); c != "" {
			v.Choice = c
		}
		if set != nil {
			set(v)
		}
	})
}

func (s *Site) twoFactorPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	s.renderTwoFactor(w, r, p, http.StatusOK, func(v *twoFactorView) {
		// Where signing in sends someone whose 2FA an administrator reset.
		if r.URL.Query().Get("reenroll") != "" && v.Mode == "" {
			v.Notice = "An administrator reset your two-factor authentication. Enable it again: until you do, " +
				"you cannot publish, change packages or create tokens."
		}
	})
}

// enableTwoFactor starts enabling 2FA: the password and a mode give a new
// secret, shown as a QR code to confirm with a first one-time password.
func (s *Site) enableTwoFactor(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	mode := r.PostForm.Get("mode")
	if !store.TFAMode(mode).Valid() {
		s.twoFactorFailed(w, r, p, fault.Invalidf("Choose a mode: Authorization only, or Authorization and writes."), nil)
		return
	}
	s.setTwoFactorMode(w, r, p, mode, "")
}

// changeTwoFactorMode switches an enabled 2FA between its modes.
func (s *Site) changeTwoFactorMode(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	mode := r.PostForm.Get("mode")
	if !store.TFAMode(mode).Valid() {
		s.twoFactorFailed(w, r, p, fault.Invalidf("Choose a mode: Authorization only, or Authorization and writes."), nil)
		return
	}
	s.setTwoFactorMode(w, r, p, mode, "Two-factor authentication now covers: "+tfaModeLabel(store.TFAMode(mode))+".")
}

// disableTwoFactor turns 2FA off, with the password and a one-time password.
func (s *Site) disableTwoFactor(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	s.setTwoFactorMode(w, r, p, account.DisableTFA, "Two-factor authentication is off.")
}

// setTwoFactorMode asks the account service for mode with the form's password
// and OTP. An answer with an otpauth URL is a setup to confirm; any other
// success shows the page with notice.
func (s *Site) setTwoFactorMode(w http.ResponseWriter, r *http.Request, p *auth.Principal, mode, notice string) {
	res, err := s.accounts.SetTFAMode(ctxWithFormOTP(r, "otp"), p, r.PostForm.Get("password"), mode)
	if err != nil {
		s.twoFactorFailed(w, r, p, err, nil)
		return
	}
	if res.OTPAuthURL == "" {
		s.renderTwoFactor(w, r, p, http.StatusOK, func(v *twoFactorView) { v.Notice = notice })
		return
	}
	setup, err := newTFASetup(res.OTPAuthURL)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.renderTwoFactor(w, r, p, http.StatusOK, func(v *twoFactorView) { v.Setup, v.Choice = setup, mode })
}

// confirmTwoFactor finishes enabling 2FA with a first one-time password and
// shows the recovery codes, in this response only. A wrong code shows the
// QR code again (from the form: the secret is never read back from the server).
func (s *Site) confirmTwoFactor(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	codes, err := s.accounts.ConfirmTFA(r.Context(), p, strings.TrimSpace(r.PostForm.Get("otp")))
	if err != nil {
		setup, serr := newTFASetup(r.PostForm.Get("otpauth"))
		s.twoFactorFailed(w, r, p, err, func(v *twoFactorView) {
			if serr == nil && v.Pending {
				v.Setup = setup
			}
		})
		return
	}
	s.renderTwoFactor(w, r, p, http.StatusOK, func(v *twoFactorView) {
		v.Codes = codes
		v.Notice = "Two-factor authentication is on: " + v.ModeLabel + "."
	})
}

// newTFASetup checks an otpauth URL and prepares its QR code and secret.
func newTFASetup(otpauth string) (*tfaSetup, error) {
	u, err := url.Parse(otpauth)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		return nil, fmt.Errorf("not an otpauth URL")
	}
	secret := u.Query().Get("secret")
	if secret == "" || strings.Trim(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		return nil, fmt.Errorf("otpauth URL without a base32 secret")
	}
	svg, err := qrSVG(otpauth)
	if err != nil {
		return nil, err
	}
	return &tfaSetup{URL: otpauth, QR: svg, Secret: groupSecret(secret)}, nil
}

// groupSecret writes a base32 secret in groups of four, easier to type.
func groupSecret(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// qrSVG draws text as a QR code in inline SVG: one path of the dark modules,
// row by row, inside the four-module quiet zone scanners need. The markup is
// built only from numbers, so it is safe to put in a page as it is.
func qrSVG(text string) (template.HTML, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("encode QR code: %w", err)
	}
	const quiet = 4
	n := c.Size + 2*quiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="qr" viewBox="0 0 %d %d" width="240" height="240" `+
		`shape-rendering="crispEdges" role="img" aria-label="QR code for your authenticator app">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; {
			if !c.Black(x, y) {
				x++
				continue
			}
			start := x
			for x < c.Size && c.Black(x, y) {
				x++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start+quiet, y+quiet, x-start, x-start)
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()), nil
}
