package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/applications"
	"github.com/tollgate/tollgate/internal/resource"
)

// Applications is what the portal needs of client applications (package
// applications): a developer's own applications and their secrets. Secrets
// are kept, sealed, by the applications package only; the portal reads
// them through it and makes new ones with its regenerateSecret action.
type Applications interface {
	ListOwnApplications(ctx context.Context, userID string) ([]applications.OwnApplication, error)
	OwnApplicationSecrets(ctx context.Context, userID, name string) (applications.Secrets, error)
}

// appProduct is a product an application is linked to, as the portal
// shows it.
type appProduct struct {
	ID, Name, DisplayName string
	// Scope is what a client credentials request asks for to get a token
	// for the product: "<identifier URI>/.default"; empty when the product
	// no longer accepts tokens.
	Scope string
}

type appRow struct {
	App      applications.OwnApplication
	Products []appProduct
	Secret   string
	Note     string
}

// productScope returns the client credentials scope of a product that
// accepts tokens of client applications, or "". Callers hold v.mu.
func (v *view) productScope(id string) string {
	p := v.products[id]
	if p == nil || !p.AcceptsTokens() || p.Application == nil {
		return ""
	}
	aud := p.Application.Audience
	if aud == "" {
		aud = "api://" + p.Application.ApplicationID
	}
	return aud + "/.default"
}

// appProducts describes the products an application is linked to.
func (p *Portal) appProducts(a applications.OwnApplication) []appProduct {
	p.view.mu.RLock()
	defer p.view.mu.RUnlock()
	out := make([]appProduct, 0, len(a.Products))
	for _, id := range a.Products {
		ap := appProduct{ID: id, Name: resource.NameOf(id), DisplayName: resource.NameOf(id), Scope: p.view.productScope(id)}
		if prod := p.view.products[id]; prod != nil {
			ap.DisplayName = prod.DisplayName
		}
		out = append(out, ap)
	}
	return out
}

// ownApplication returns the developer's application of that name, or
// nil when they have none (or it is someone else's).
func (p *Portal) ownApplication(ctx context.Context, s *session, name string) (*applications.OwnApplication, error) {
	if !resource.ValidName(name) {
		return nil, nil
	}
	apps, err := p.apps.ListOwnApplications(ctx, s.UserID)
	if err != nil {
		return nil, fmt.Errorf("list the applications of %s: %w", s.UserID, err)
	}
	for i := range apps {
		if apps[i].Name == name {
			return &apps[i], nil
		}
	}
	return nil, nil
}

func (p *Portal) handleApplications(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if s == nil {
		return p.needSignIn(w, r)
	}
	return p.applicationsPage(w, r, s, "", "", "")
}

// applicationsPage lists the developer's applications; the one named
// shown carries the secret and the note.
func (p *Portal) applicationsPage(w http.ResponseWriter, r *http.Request, s *session, shown, secret, note string) (int, string, *pageData) {
	apps, err := p.apps.ListOwnApplications(r.Context(), s.UserID)
	if err != nil {
		p.serverError(w, r, fmt.Errorf("list the applications of %s: %w", s.UserID, err))
		return 0, "", nil
	}
	items, pg := paginate(r, apps)
	rows := make([]appRow, len(items))
	for i, a := range items {
		rows[i] = appRow{App: a, Products: p.appProducts(a)}
		if a.Name == shown {
			rows[i].Secret, rows[i].Note = secret, note
		}
	}
	return http.StatusOK, "applications", &pageData{Title: "Applications", Data: map[string]any{
		"Rows": rows, "Pager": pg, "TokenURL": p.metadata("token_endpoint"),
		"Grace": graceText(applications.SecretGracePeriod),
	}}
}

func graceText(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.String()
}

// handleShowSecret shows an application's client secret, only in answer
// to a deliberate POST of its owner (never to a GET, never cached).
func (p *Portal) handleShowSecret(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if s == nil {
		return p.needSignIn(w, r)
	}
	name := r.PathValue("id")
	sec, err := p.apps.OwnApplicationSecrets(r.Context(), s.UserID, name)
	if errors.Is(err, applications.ErrNotOwner) {
		return notFound()
	} else if err != nil {
		p.serverError(w, r, fmt.Errorf("open the secret of application %q: %w", name, err))
		return 0, "", nil
	}
	p.log.Info("portal: client secret shown", "application", "/clientApplications/"+name, "user", s.UserID)
	return p.applicationsPage(w, r, s, name, sec.ClientSecret, "Keep this secret safe: anyone who has it gets tokens as this application. It expires on "+dateOf(sec.ExpiresAt)+".")
}

// handleRegenerateSecret gives the application a new secret through the
// applications package's regenerateSecret action, and shows it: the
// previous secret keeps working for the grace period, so clients switch
// without downtime.
func (p *Portal) handleRegenerateSecret(w http.ResponseWriter, r *http.Request, s *session) (int, string, *pageData) {
	if s == nil {
		return p.needSignIn(w, r)
	}
	a, err := p.ownApplication(r.Context(), s, r.PathValue("id"))
	if err != nil {
		p.serverError(w, r, err)
		return 0, "", nil
	}
	if a == nil {
		return notFound()
	}
	_, res, err := p.mgmt.Act(actingFor(r, s.UserID), a.ID, "regenerateSecret", nil)
	if err != nil {
		p.serverError(w, r, fmt.Errorf("regenerate the secret of %s: %w", a.ID, err))
		return 0, "", nil
	}
	prev := ""
	if rg, ok := res.(applications.Regenerated); ok {
		prev = rg.PreviousSecretExpiresAt
	}
	sec, err := p.apps.OwnApplicationSecrets(r.Context(), s.UserID, a.Name)
	if err != nil {
		p.serverError(w, r, fmt.Errorf("open the new secret of %s: %w", a.ID, err))
		return 0, "", nil
	}
	p.log.Info("portal: client secret regenerated", "application", a.ID, "user", s.UserID)
	return p.applicationsPage(w, r, s, a.Name, sec.ClientSecret,
		"This is the new secret. The previous one keeps working until "+dateOf(prev)+", so switch your clients to the new one before then.")
}

// dateOf shows an RFC 3339 time as "2006-01-02 15:04 UTC".
func dateOf(v string) string {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return v
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
