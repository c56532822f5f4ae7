// Package applications gives products OAuth 2.0 access: a product whose
// authenticationType includes oauth2Token is registered in the built-in
// directory as a resource application, client applications are registered
// as confidential clients with a secret, and linking an application to a
// product grants it the product's app role (admin consent). The gateway
// admits the applications' tokens (see internal/gateway's application
// index); this package keeps the configuration and the directory in step,
// inside the management API's write transactions.
package applications

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/identity"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// Kind names.
const (
	KindClientApplications = "clientApplications"
	KindProductLinks       = "clientApplications/productLinks"
)

// SecretGracePeriod is how long the previous client secret keeps working
// after regenerateSecret, so that clients can switch without downtime.
const SecretGracePeriod = 24 * time.Hour

const directoryPrefix = "/directory/applications/"

// Options configure a Service.
type Options struct {
	// Store is read by the developers' endpoint (outside transactions).
	Store store.Store
	// Directory is the identity provider's directory behaviour: it fills
	// registrations, makes secrets and grants consent.
	Directory *identity.Directory
	Keyring   *keyring.Keyring
	// TenantID returns the directory's tenant id.
	TenantID func() string
	Now      func() time.Time
}

// Service is the management behaviour of products' OAuth access, client
// applications and their product links.
type Service struct {
	opts  Options
	index *ownerIndex
}

// New returns a Service.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{opts: opts, index: newOwnerIndex()}
}

// Install adds the hooks and actions of products' OAuth access, client
// applications and product links to the management API.
func (s *Service) Install(m *management.Server) {
	m.Handle("products", management.Hooks{Prepare: s.prepareProduct, Delete: s.deleteProduct})
	m.Handle(KindClientApplications, management.Hooks{
		Prepare: s.prepareClientApp, Delete: s.deleteClientApp,
		Actions: map[string]management.Action{"listSecrets": s.listSecrets, "regenerateSecret": s.regenerateSecret},
	})
	m.Handle(KindProductLinks, management.Hooks{Prepare: s.prepareLink, Check: s.checkLink, Delete: s.deleteLink})
	m.Handle(identity.KindApplications, management.Hooks{Delete: s.deleteRegistration})
	m.Handle("users", management.Hooks{Delete: s.deleteOwner})
}

// deleteOwner refuses to delete a user who owns client applications.
func (s *Service) deleteOwner(ctx context.Context, tx store.Tx, id string, _ resource.Resource, _ map[string]string) error {
	recs, err := tx.List(ctx, KindClientApplications, "")
	if err != nil {
		return fmt.Errorf("list client applications: %w", err)
	}
	for _, rec := range recs {
		var a resource.ClientApplication
		if err := json.Unmarshal(rec.Body, &a); err != nil {
			return fmt.Errorf("decode %q: %w", rec.ID, err)
		}
		if a.OwnerID == id {
			return apierror.New(http.StatusConflict, "Conflict", "%s owns the client application %s: delete it, or give it another owner, first.", id, rec.ID)
		}
	}
	return nil
}

// deleteRegistration refuses to delete, through the directory, the
// registration of a product or client application: they remove their own.
func (s *Service) deleteRegistration(ctx context.Context, tx store.Tx, id string, old resource.Resource, _ map[string]string) error {
	appID := old.(*identity.Application).AppID
	for _, kind := range []string{"products", KindClientApplications} {
		recs, err := tx.List(ctx, kind, "")
		if err != nil {
			return fmt.Errorf("list %s: %w", kind, err)
		}
		for _, rec := range recs {
			var v struct {
				Application   *resource.ProductApplication `json:"application"`
				ApplicationID string                       `json:"applicationId"`
			}
			if err := json.Unmarshal(rec.Body, &v); err != nil {
				return fmt.Errorf("decode %q: %w", rec.ID, err)
			}
			if (v.Application != nil && strings.EqualFold(v.Application.ApplicationID, appID)) || strings.EqualFold(v.ApplicationID, appID) {
				return apierror.New(http.StatusConflict, "Conflict", "%s is the registration of %s, which removes it itself: delete %s, or turn its OAuth access off.", id, rec.ID, rec.ID)
			}
		}
	}
	return nil
}

func fieldError(target, format string, args ...any) error {
	return apierror.Validation([]resource.FieldError{{Target: target, Message: fmt.Sprintf(format, args...)}})
}

func getJSON[T any](ctx context.Context, tx store.Tx, id string) (*T, error) {
	rec, err := tx.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(rec.Body, v); err != nil {
		return nil, fmt.Errorf("decode %q: %w", id, err)
	}
	return v, nil
}

func putJSON(ctx context.Context, tx store.Tx, id, kind, parent string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", id, err)
	}
	if _, err := tx.Put(ctx, store.Record{ID: id, Kind: kind, Parent: parent, Body: b}, ""); err != nil {
		return fmt.Errorf("write %q: %w", id, err)
	}
	return nil
}

func getDirApp(ctx context.Context, tx store.Tx, id string) (*identity.Application, error) {
	a, err := getJSON[identity.Application](ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("read directory application %q: %w", id, err)
	}
	resource.SetMeta(a, id)
	return a, nil
}

func putDirApp(ctx context.Context, tx store.Tx, a *identity.Application) error {
	return putJSON(ctx, tx, a.ID, identity.KindApplications, "", a)
}

func exists(ctx context.Context, tx store.Tx, id string) (bool, error) {
	_, err := tx.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// register makes a new directory registration, filled and checked by the
// directory's own Prepare.
func (s *Service) register(ctx context.Context, tx store.Tx, a *identity.Application) error {
	a.AppID = uuid.NewString()
	resource.SetMeta(a, directoryPrefix+a.AppID)
	a.Normalize()
	if errs := a.Validate(); len(errs) > 0 {
		return apierror.Validation(errs)
	}
	if err := s.opts.Directory.PrepareApplication(ctx, tx, a.ID, nil, a); err != nil {
		return err
	}
	return putDirApp(ctx, tx, a)
}

// --- products ---

func (s *Service) prepareProduct(ctx context.Context, tx store.Tx, id string, old, n resource.Resource) error {
	p := n.(*resource.Product)
	var o *resource.Product
	if old != nil {
		o = old.(*resource.Product)
	}
	// application is the server's: whatever the request said is replaced.
	p.Application = nil
	if o != nil {
		p.Application = o.Application
	}
	switch {
	case p.AcceptsTokens() && p.Application == nil:
		app := &identity.Application{
			DisplayName: "Tollgate Product " + p.DisplayName,
			Description: "Stands for the product " + id + ": tokens for it call the product's APIs.",
			AppRoles: []identity.AppRole{{
				Value: resource.ProductRole(p.Name), DisplayName: "Call the APIs of " + p.DisplayName,
				Description:        "Applications with this role call the APIs of the product " + id + ".",
				AllowedMemberTypes: []string{identity.MemberApplication},
			}},
		}
		if err := s.register(ctx, tx, app); err != nil {
			return fmt.Errorf("register product %q in the directory: %w", id, err)
		}
		p.Application = &resource.ProductApplication{
			ApplicationID: app.AppID, Audience: app.IdentifierURIs[0], TenantID: s.opts.TenantID(),
			Role: resource.ProductRole(p.Name),
		}
	case !p.AcceptsTokens() && p.Application != nil:
		if err := s.unregisterProduct(ctx, tx, id, p.Application); err != nil {
			return err
		}
		p.Application = nil
	case p.Application != nil && o != nil && o.DisplayName != p.DisplayName:
		a, err := getDirApp(ctx, tx, directoryPrefix+p.Application.ApplicationID)
		if err != nil {
			return err
		}
		a.DisplayName = "Tollgate Product " + p.DisplayName
		return putDirApp(ctx, tx, a)
	}
	return nil
}

func (s *Service) deleteProduct(ctx context.Context, tx store.Tx, id string, old resource.Resource, _ map[string]string) error {
	if p := old.(*resource.Product); p.Application != nil {
		return s.unregisterProduct(ctx, tx, id, p.Application)
	}
	return nil
}

// unregisterProduct removes a product's registration, the links to it and
// the grants of its role.
func (s *Service) unregisterProduct(ctx context.Context, tx store.Tx, productID string, pa *resource.ProductApplication) error {
	dirID := directoryPrefix + pa.ApplicationID
	if err := tx.Delete(ctx, dirID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("remove directory application %q: %w", dirID, err)
	}
	links, err := tx.List(ctx, KindProductLinks, "")
	if err != nil {
		return fmt.Errorf("list product links: %w", err)
	}
	apps := map[string]bool{}
	for _, rec := range links {
		var l resource.ProductLink
		if err := json.Unmarshal(rec.Body, &l); err != nil {
			return fmt.Errorf("decode %q: %w", rec.ID, err)
		}
		if l.ProductID != productID {
			continue
		}
		if err := tx.Delete(ctx, rec.ID); err != nil {
			return fmt.Errorf("remove product link %q: %w", rec.ID, err)
		}
		apps[rec.Parent] = true
	}
	for appID := range apps {
		if err := s.regrant(ctx, tx, appID, ""); err != nil {
			return err
		}
	}
	return nil
}

// --- client applications ---

func (s *Service) prepareClientApp(ctx context.Context, tx store.Tx, id string, old, n resource.Resource) error {
	a := n.(*resource.ClientApplication)
	ok, err := exists(ctx, tx, a.OwnerID)
	if err != nil {
		return fmt.Errorf("read owner of %q: %w", id, err)
	}
	if !ok {
		return fieldError("ownerId", "%s does not exist", a.OwnerID)
	}
	if old != nil {
		o := old.(*resource.ClientApplication)
		if a.SecretExpiresAt != "" && a.SecretExpiresAt != o.SecretExpiresAt {
			return fieldError("secretExpiresAt", "can be set only when the application is created; use POST .../regenerateSecret for a new secret")
		}
		a.ApplicationID, a.TenantID, a.CreatedDate = o.ApplicationID, o.TenantID, o.CreatedDate
		a.SecretExpiresAt, a.DirectoryID, a.SecretKeyID = o.SecretExpiresAt, o.DirectoryID, o.SecretKeyID
		if a.DisplayName != o.DisplayName {
			d, err := getDirApp(ctx, tx, a.DirectoryID)
			if err != nil {
				return err
			}
			d.DisplayName = a.DisplayName
			return putDirApp(ctx, tx, d)
		}
		return nil
	}
	now := s.opts.Now().UTC()
	if a.SecretExpiresAt != "" {
		t, _ := time.Parse(time.RFC3339, a.SecretExpiresAt) // checked by Validate
		if !t.After(now) {
			return fieldError("secretExpiresAt", "must be in the future")
		}
	}
	d := &identity.Application{DisplayName: a.DisplayName, Description: "Client application " + id + " of Tollgate."}
	if err := s.register(ctx, tx, d); err != nil {
		return fmt.Errorf("register client application %q in the directory: %w", id, err)
	}
	a.ApplicationID, a.TenantID, a.DirectoryID = d.AppID, s.opts.TenantID(), d.ID
	a.CreatedDate = now.Format("2006-01-02T15:04:05.000Z")
	if err := s.addSecret(ctx, tx, a, d, a.SecretExpiresAt); err != nil {
		return err
	}
	return s.sealSecret(id, a)
}

// sealSecret seals a's new client secret, bound to its path.
func (s *Service) sealSecret(id string, a *resource.ClientApplication) error {
	sealed, err := s.opts.Keyring.Seal([]byte(a.ClientSecret), []byte(id))
	if err != nil {
		return fmt.Errorf("seal the client secret of %q: %w", id, err)
	}
	a.ClientSecret = sealed
	return nil
}

// addSecret adds a client secret to the registration and keeps it, in
// plain text until sealSecret, in the application.
func (s *Service) addSecret(ctx context.Context, tx store.Tx, a *resource.ClientApplication, d *identity.Application, expires string) error {
	body, err := json.Marshal(map[string]string{"displayName": "Tollgate", "endDateTime": expires})
	if err != nil {
		return err
	}
	_, res, err := s.opts.Directory.AddPassword(ctx, tx, d.ID, d, body)
	if err != nil {
		return fmt.Errorf("add a client secret to %q: %w", d.ID, err)
	}
	added, ok := res.(identity.AddedPassword)
	if !ok {
		return fmt.Errorf("add a client secret to %q: unexpected result %T", d.ID, res)
	}
	a.ClientSecret, a.SecretKeyID, a.SecretExpiresAt = added.SecretText, added.KeyID, added.EndDateTime
	return nil
}

func (s *Service) deleteClientApp(ctx context.Context, tx store.Tx, id string, old resource.Resource, _ map[string]string) error {
	a := old.(*resource.ClientApplication)
	if a.DirectoryID == "" {
		return nil
	}
	if err := tx.Delete(ctx, a.DirectoryID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("remove directory application %q: %w", a.DirectoryID, err)
	}
	return nil
}

// Secrets is listSecrets' answer.
type Secrets struct {
	ClientSecret string `json:"clientSecret"`
	ExpiresAt    string `json:"expiresAt"`
}

func (s *Service) openSecret(id string, a *resource.ClientApplication) (Secrets, error) {
	v := a.ClientSecret
	if keyring.IsSealed(v) {
		pt, err := s.opts.Keyring.Open(v, []byte(id))
		if err != nil {
			return Secrets{}, fmt.Errorf("open the client secret of %q: %w", id, err)
		}
		v = string(pt)
	}
	return Secrets{ClientSecret: v, ExpiresAt: a.SecretExpiresAt}, nil
}

func (s *Service) listSecrets(_ context.Context, _ store.Tx, id string, cur resource.Resource, _ []byte) (int, any, error) {
	sec, err := s.openSecret(id, cur.(*resource.ClientApplication))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, sec, nil
}

// maxActionBody bounds regenerateSecret's body.
const maxActionBody = 4 << 10

// Regenerated is regenerateSecret's answer; the secret itself is read with
// listSecrets.
type Regenerated struct {
	ExpiresAt string `json:"expiresAt"`
	// PreviousSecretExpiresAt is when the replaced secret stops working.
	PreviousSecretExpiresAt string `json:"previousSecretExpiresAt"`
}

func (s *Service) regenerateSecret(ctx context.Context, tx store.Tx, id string, cur resource.Resource, body []byte) (int, any, error) {
	a := cur.(*resource.ClientApplication)
	var req struct {
		SecretExpiresAt string `json:"secretExpiresAt"`
	}
	if len(body) > maxActionBody {
		return 0, nil, apierror.New(http.StatusRequestEntityTooLarge, "RequestTooLarge", "The request body is too large.")
	}
	if strings.TrimSpace(string(body)) != "" {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return 0, nil, apierror.New(http.StatusBadRequest, "InvalidRequestBody", "The request body is not valid: %v", err)
		}
	}
	now := s.opts.Now().UTC()
	if req.SecretExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, req.SecretExpiresAt)
		if err != nil {
			return 0, nil, fieldError("secretExpiresAt", "must be an RFC 3339 date-time such as 2027-01-31T00:00:00Z")
		}
		if !t.After(now) {
			return 0, nil, fieldError("secretExpiresAt", "must be in the future")
		}
	}
	d, err := getDirApp(ctx, tx, a.DirectoryID)
	if err != nil {
		return 0, nil, err
	}
	// The current secret works for the grace period (or until it
	// expires, if sooner); older ones stop now.
	grace := now.Add(SecretGracePeriod)
	prevEnd := now
	kept := d.PasswordCredentials[:0:0]
	for _, c := range d.PasswordCredentials {
		if c.KeyID != a.SecretKeyID {
			delete(d.SecretHashes, c.KeyID)
			continue
		}
		if end, err := time.Parse(time.RFC3339, c.EndDateTime); err == nil && end.Before(grace) {
			prevEnd = end
		} else {
			prevEnd = grace
			c.EndDateTime = grace.Format(time.RFC3339)
		}
		kept = append(kept, c)
	}
	d.PasswordCredentials = kept
	if err := s.addSecret(ctx, tx, a, d, req.SecretExpiresAt); err != nil {
		return 0, nil, err
	}
	if err := s.sealSecret(id, a); err != nil {
		return 0, nil, err
	}
	resource.SetMeta(a, id)
	if err := putJSON(ctx, tx, id, KindClientApplications, "", a); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, Regenerated{ExpiresAt: a.SecretExpiresAt, PreviousSecretExpiresAt: prevEnd.Format(time.RFC3339)}, nil
}

// --- product links ---

func (s *Service) prepareLink(ctx context.Context, tx store.Tx, id string, _, n resource.Resource) error {
	l := n.(*resource.ProductLink)
	p, err := getJSON[resource.Product](ctx, tx, l.ProductID)
	if errors.Is(err, store.ErrNotFound) {
		return fieldError("productId", "%s does not exist", l.ProductID)
	} else if err != nil {
		return fmt.Errorf("read product of %q: %w", id, err)
	}
	if !p.AcceptsTokens() || p.Application == nil {
		return fieldError("productId", "%s does not accept OAuth tokens: add oauth2Token to its authenticationType first", l.ProductID)
	}
	appID := linkParent(id)
	links, err := tx.List(ctx, KindProductLinks, appID)
	if err != nil {
		return fmt.Errorf("list links of %q: %w", appID, err)
	}
	for _, rec := range links {
		var other resource.ProductLink
		if err := json.Unmarshal(rec.Body, &other); err != nil {
			return fmt.Errorf("decode %q: %w", rec.ID, err)
		}
		if rec.ID != id && other.ProductID == l.ProductID {
			return apierror.New(http.StatusConflict, "Conflict", "%s is already linked to %s by %s.", appID, l.ProductID, rec.ID)
		}
	}
	return nil
}

// checkLink grants the linked products' roles once the link is written.
func (s *Service) checkLink(ctx context.Context, tx store.Tx, rec store.Record) error {
	return s.regrant(ctx, tx, rec.Parent, "")
}

func (s *Service) deleteLink(ctx context.Context, tx store.Tx, id string, _ resource.Resource, _ map[string]string) error {
	return s.regrant(ctx, tx, linkParent(id), id)
}

// regrant makes the client application's registration ask for the roles
// of the products it is linked to (but the link except) and grants them:
// admin consent, which replaces the earlier grants.
func (s *Service) regrant(ctx context.Context, tx store.Tx, appID, except string) error {
	a, err := getJSON[resource.ClientApplication](ctx, tx, appID)
	if err != nil {
		return fmt.Errorf("read %q: %w", appID, err)
	}
	links, err := tx.List(ctx, KindProductLinks, appID)
	if err != nil {
		return fmt.Errorf("list links of %q: %w", appID, err)
	}
	var access []identity.RequiredResourceAccess
	for _, rec := range links {
		if rec.ID == except {
			continue
		}
		var l resource.ProductLink
		if err := json.Unmarshal(rec.Body, &l); err != nil {
			return fmt.Errorf("decode %q: %w", rec.ID, err)
		}
		p, err := getJSON[resource.Product](ctx, tx, l.ProductID)
		if err != nil {
			return fmt.Errorf("read product of %q: %w", rec.ID, err)
		}
		if p.Application == nil {
			continue
		}
		access = append(access, identity.RequiredResourceAccess{
			ResourceAppID:  p.Application.ApplicationID,
			ResourceAccess: []identity.ResourceAccess{{ID: p.Application.Role, Type: "Role"}},
		})
	}
	d, err := getDirApp(ctx, tx, a.DirectoryID)
	if err != nil {
		return err
	}
	d.RequiredResourceAccess = access
	if _, _, err := s.opts.Directory.GrantAdminConsent(ctx, tx, d.ID, d, nil); err != nil {
		return fmt.Errorf("grant the product roles of %q: %w", appID, err)
	}
	return nil
}

// linkParent is the application a product link belongs to:
// /clientApplications/{id} of /clientApplications/{id}/productLinks/{linkId}.
func linkParent(id string) string {
	app, _, _ := strings.Cut(id, "/productLinks/")
	return app
}
