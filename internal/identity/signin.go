package identity

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// currentSession returns the signed-in session of the request, if any,
// and its cookie value.
func (p *Provider) currentSession(ctx context.Context, r *http.Request, snap *snapshot) (*session, string) {
	c, err := r.Cookie(cookieSession)
	if err != nil || len(c.Value) > 100 || c.Value == "" {
		return nil, ""
	}
	s, err := p.state.Session(ctx, c.Value)
	if err != nil || !p.now().Before(s.Expires) {
		return nil, ""
	}
	if u := snap.byOID[s.UserOID]; u == nil || !u.enabled() || u.signInRevoked(s.AuthTime) {
		return nil, ""
	}
	return s, c.Value
}

// handleSignIn serves the sign-in form's POST.
func (p *Provider) handleSignIn(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, snap, read := p.readPageForm(w, r, "sign-in")
	if !read {
		return
	}
	upn := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	if len(upn) > 256 || len(password) > 256 {
		p.signInPage(w, r, ar, "The user name or password is incorrect.", http.StatusUnauthorized)
		return
	}
	acctKey := "acct/" + tokenKey("", strings.ToLower(upn))
	addrKey := "addr/" + clientAddr(r)
	okAcct, err := p.countAttempt(ctx, acctKey, p.opts.LoginMaxFailures, 1)
	if err != nil {
		p.serverError(w, err)
		return
	}
	okAddr := false
	if okAcct {
		if okAddr, err = p.countAttempt(ctx, addrKey, p.opts.LoginMaxFailuresPerAddress, 1); err != nil {
			p.serverError(w, err)
			return
		}
	}
	if okAcct && !okAddr {
		_, _ = p.countAttempt(ctx, acctKey, p.opts.LoginMaxFailures, -1)
	}
	if !okAcct || !okAddr {
		p.log.Warn("sign-in throttled", "addr", clientAddr(r))
		p.signInPage(w, r, ar, "Too many failed sign-in attempts. Wait a few minutes and try again.", http.StatusTooManyRequests)
		return
	}
	u := snap.byUPN[strings.ToLower(upn)]
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	ok := false
	if hash != "" {
		ok, _ = verifyPassword(hash, password)
	} else {
		// Spend the same work for unknown users, so timing does not tell
		// which accounts exist.
		_, _ = p.opts.Passwords.Hash(password)
	}
	if !ok {
		p.signInPage(w, r, ar, "The user name or password is incorrect.", http.StatusUnauthorized)
		return
	}
	if !u.enabled() {
		p.signInPage(w, r, ar, "This account is disabled. Ask an administrator.", http.StatusForbidden)
		return
	}
	// A correct password clears the account's count and gives the
	// address its attempt back.
	_ = p.state.ClearAttempts(ctx, acctKey)
	if _, err := p.countAttempt(ctx, addrKey, p.opts.LoginMaxFailuresPerAddress, -1); err != nil {
		p.log.Warn("give back a sign-in attempt", "err", err)
	}
	sv := randomToken()
	sess := &session{UserOID: u.ObjectID, AuthTime: p.now().UTC(), SID: uuid.NewString(), Expires: p.now().Add(p.opts.SessionLifetime)}
	if err := p.state.PutSession(ctx, sv, sess); err != nil {
		p.serverError(w, fmt.Errorf("store session: %w", err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Value: sv, Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode, MaxAge: int(p.opts.SessionLifetime / time.Second)})
	p.log.Info("user signed in", "user", u.ObjectID, "client", ar.ClientID)
	if ar.Prompt == "login" {
		ar.Prompt = ""
	}
	p.afterSignIn(w, r, snap, ar, sess)
}

// handleConsent serves the consent form's POST.
func (p *Provider) handleConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, snap, ok := p.readPageForm(w, r, "consent")
	if !ok {
		return
	}
	sess, _ := p.currentSession(ctx, r, snap)
	if sess == nil || sess.UserOID != ar.Grant.UserOID {
		p.errorPage(w, http.StatusForbidden, "You are not signed in as the user this consent is for.")
		return
	}
	if r.PostForm.Get("decision") != "accept" {
		_ = p.state.DeleteAuthRequest(ctx, ar.ID)
		p.redirectError(w, r, ar.RedirectURI, ar.State, "access_denied", "The user declined consent.")
		return
	}
	if ar.Grant.Resource != "" && len(ar.Grant.Delegated) > 0 {
		if err := p.state.AddConsent(ctx, ar.Grant.UserOID, ar.ClientID, ar.Grant.Resource, ar.Grant.Delegated); err != nil {
			p.serverError(w, err)
			return
		}
	}
	p.issueCode(w, r, ar)
}

// countAttempt counts a sign-in attempt against key (an account or a
// client address) before its password is checked. It reports false,
// counting nothing, when the limit was reached in the window, so no more
// than max passwords are ever checked per window, however concurrent the
// attempts. delta -1 gives back the attempt of a successful sign-in.
func (p *Provider) countAttempt(ctx context.Context, key string, max, delta int) (bool, error) {
	return p.state.CountAttempt(ctx, key, max, delta, p.now(), p.opts.LoginThrottleWindow)
}
