package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/resource"
)

// Limiter counts attempts against a key: ratelimit.Limiter's Take.
type Limiter interface {
	Take(ctx context.Context, key string, w ratelimit.Window, n int64) (ratelimit.Result, error)
}

// signUpAllowed counts a sign-up attempt of the request's client address
// (the connection's: the portal takes no forwarded-for header) and
// reports whether it is within SignUpAttempts per SignUpWindow, and if
// not, how long to wait. When the limiter fails, the attempt is let
// through and the failure logged.
func (p *Portal) signUpAllowed(r *http.Request) (bool, time.Duration) {
	res, err := p.opts.Limiter.Take(r.Context(), "portal/signup/"+clientAddr(r), ratelimit.Rate(int64(p.opts.SignUpAttempts), p.opts.SignUpWindow), 1)
	if err != nil {
		p.log.Warn("portal: sign-up rate limit not applied", "err", err)
		return true, 0
	}
	return res.Allowed, res.RetryAfter
}

// clientAddr is the request's client address: the connection's (the
// portal takes no forwarded-for header).
func clientAddr(r *http.Request) string {
	if addr, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return addr
	}
	return r.RemoteAddr
}

// PortalActorApp is the app the audit log names for changes developers
// make in the portal.
const PortalActorApp = "tollgate-portal"

// actingFor is the context of a management change the portal makes for
// a developer (signed in, signing up, or signing in the first time): the
// audit log records the developer's user id, the portal and the client's
// address as who made it.
func actingFor(r *http.Request, userID string) context.Context {
	return management.WithActor(r.Context(), userID, PortalActorApp, clientAddr(r))
}

func (p *Portal) signUpEnabled() bool {
	p.view.mu.RLock()
	defer p.view.mu.RUnlock()
	return resource.Bool(p.view.settings.SignUpEnabled, true)
}

type signUpForm struct {
	Email, FirstName, LastName string
	Errors                     map[string]string
}

func (p *Portal) handleSignUpPage(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if !p.signUpEnabled() {
		return http.StatusNotFound, "message", &pageData{Title: "Sign-up is closed", Message: "This portal does not take new accounts. Ask its operator for one."}
	}
	return http.StatusOK, "signup", &pageData{Title: "Sign up", Data: &signUpForm{}}
}

// handleSignUp makes the directory user (who signs in) and the management
// user (who owns subscriptions), then sends the visitor to sign in. Email
// verification is not done: there is no mail server on one machine.
func (p *Portal) handleSignUp(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if !p.signUpEnabled() {
		return http.StatusNotFound, "message", &pageData{Title: "Sign-up is closed", Message: "This portal does not take new accounts. Ask its operator for one."}
	}
	if ok, retry := p.signUpAllowed(r); !ok {
		mins := int(retry.Round(time.Minute) / time.Minute)
		if mins < 1 {
			mins = 1
		}
		p.log.Warn("portal: sign-up attempts refused for a client address", "retryAfter", retry)
		w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds()+0.999)))
		return http.StatusTooManyRequests, "signup", &pageData{Title: "Sign up", Data: &signUpForm{},
			Error: fmt.Sprintf("Too many sign-up attempts from your address. Try again in %d minutes.", mins)}
	}
	ctx := r.Context()
	f := &signUpForm{Email: strings.TrimSpace(r.PostForm.Get("email")), FirstName: strings.TrimSpace(r.PostForm.Get("firstName")),
		LastName: strings.TrimSpace(r.PostForm.Get("lastName")), Errors: map[string]string{}}
	pw := r.PostForm.Get("password")
	if at := strings.IndexByte(f.Email, '@'); at < 1 || at == len(f.Email)-1 || len(f.Email) > 100 || strings.ContainsAny(f.Email, " <>\"") {
		f.Errors["email"] = "Enter an email address, like name@example.com."
	}
	if f.FirstName == "" || len(f.FirstName) > 100 {
		f.Errors["firstName"] = "Enter your first name (up to 100 characters)."
	}
	if len(f.LastName) > 100 {
		f.Errors["lastName"] = "Use up to 100 characters."
	}
	if len(pw) < 12 || len(pw) > 200 {
		f.Errors["password"] = "Use 12 to 200 characters."
	} else if pw != r.PostForm.Get("confirm") {
		f.Errors["confirm"] = "The two passwords differ."
	}
	p.view.mu.RLock()
	terms := p.view.settings.Terms
	p.view.mu.RUnlock()
	if terms != "" && r.PostForm.Get("accept") != "yes" {
		f.Errors["accept"] = "Accept the terms of use to create an account."
	}
	if len(f.Errors) == 0 {
		recs, err := p.store.List(ctx, "directory/users", "")
		if err != nil {
			p.serverError(w, r, err)
			return 0, "", nil
		}
		for _, rec := range recs {
			var du struct {
				UPN string `json:"userPrincipalName"`
			}
			if json.Unmarshal(rec.Body, &du) == nil && strings.EqualFold(du.UPN, f.Email) {
				f.Errors["email"] = "An account with this email exists. Sign in instead."
			}
		}
	}
	if len(f.Errors) > 0 {
		return http.StatusBadRequest, "signup", &pageData{Title: "Sign up", Error: "Some fields need attention.", Data: f}
	}
	name := "dev-" + randomHex(8)
	ctx = actingFor(r, "/users/"+name)
	display := strings.TrimSpace(f.FirstName + " " + f.LastName)
	dirID := "/directory/users/" + name
	body, _ := json.Marshal(map[string]any{"userPrincipalName": f.Email, "displayName": display, "mail": f.Email})
	if _, _, err := p.mgmt.Put(ctx, dirID, body, "", false); err != nil {
		return p.signUpFailed(w, r, f, err)
	}
	pwBody, _ := json.Marshal(map[string]string{"password": pw})
	if _, _, err := p.mgmt.Act(ctx, dirID, "setPassword", pwBody); err != nil {
		_ = p.mgmt.Delete(ctx, dirID, "", nil)
		return p.signUpFailed(w, r, f, err)
	}
	body, _ = json.Marshal(map[string]string{"email": f.Email, "firstName": f.FirstName, "lastName": f.LastName})
	if _, _, err := p.mgmt.Put(ctx, "/users/"+name, body, "", false); err != nil {
		_ = p.mgmt.Delete(ctx, dirID, "", nil)
		return p.signUpFailed(w, r, f, err)
	}
	p.log.Info("portal: developer signed up", "user", "/users/"+name)
	http.Redirect(w, r, p.base+"/signin?login_hint="+url.QueryEscape(f.Email), http.StatusSeeOther)
	return 0, "", nil
}

func (p *Portal) signUpFailed(w http.ResponseWriter, r *http.Request, f *signUpForm, err error) (int, string, *pageData) {
	var ae *apierror.Error
	if errors.As(err, &ae) && ae.Status < 500 {
		msg := ae.Message
		for _, d := range ae.Details {
			msg += " " + d.Message
		}
		return http.StatusBadRequest, "signup", &pageData{Title: "Sign up", Error: msg, Data: f}
	}
	p.serverError(w, r, fmt.Errorf("sign up: %w", err))
	return 0, "", nil
}
