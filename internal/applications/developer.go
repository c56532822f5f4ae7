package applications

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/identity"
	"github.com/tollgate/tollgate/internal/jwtvalidate"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// OwnApplication is a client application as its owner sees it: no
// secret (listSecrets gives it), and the products it is linked to.
type OwnApplication struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	DisplayName     string   `json:"displayName"`
	Description     string   `json:"description,omitempty"`
	State           string   `json:"state"`
	ApplicationID   string   `json:"applicationId"`
	TenantID        string   `json:"tenantId"`
	CreatedDate     string   `json:"createdDate"`
	SecretExpiresAt string   `json:"secretExpiresAt"`
	Products        []string `json:"products"`
}

// ErrNotOwner is returned for an application the user does not own (or
// that does not exist: the two are not told apart).
var ErrNotOwner = errors.New("no such application of this user")

// ListOwnApplications returns the client applications owned by userID
// (/users/{id}), in id order.
func (s *Service) ListOwnApplications(ctx context.Context, userID string) ([]OwnApplication, error) {
	recs, err := s.ownedRecords(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := []OwnApplication{}
	for _, rec := range recs {
		a, err := s.ownApplication(ctx, rec, userID)
		if err != nil {
			return nil, err
		}
		if a != nil {
			out = append(out, *a)
		}
	}
	return out, nil
}

// ownedRecords returns, in id order, the records of the client
// applications the index of applications by owner gives for userID, or of
// every client application until the index is loaded.
func (s *Service) ownedRecords(ctx context.Context, userID string) ([]store.Record, error) {
	ids, ok := s.index.owned(userID)
	if !ok {
		recs, err := s.opts.Store.List(ctx, KindClientApplications, "")
		if err != nil {
			return nil, fmt.Errorf("list client applications: %w", err)
		}
		return recs, nil
	}
	recs := make([]store.Record, 0, len(ids))
	for _, id := range ids {
		rec, err := s.opts.Store.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since the index was read
		} else if err != nil {
			return nil, fmt.Errorf("read %q: %w", id, err)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// ownApplication decodes the client application rec with its product
// links, or returns nil if userID does not own it.
func (s *Service) ownApplication(ctx context.Context, rec store.Record, userID string) (*OwnApplication, error) {
	var a resource.ClientApplication
	if err := json.Unmarshal(rec.Body, &a); err != nil {
		return nil, fmt.Errorf("decode %q: %w", rec.ID, err)
	}
	if a.OwnerID != userID {
		return nil, nil
	}
	resource.SetMeta(&a, rec.ID)
	links, err := s.opts.Store.List(ctx, KindProductLinks, rec.ID)
	if err != nil {
		return nil, fmt.Errorf("list links of %q: %w", rec.ID, err)
	}
	products := []string{}
	for _, l := range links {
		var pl resource.ProductLink
		if err := json.Unmarshal(l.Body, &pl); err != nil {
			return nil, fmt.Errorf("decode %q: %w", l.ID, err)
		}
		products = append(products, pl.ProductID)
	}
	return &OwnApplication{
		ID: a.ID, Name: a.Name, DisplayName: a.DisplayName, Description: a.Description, State: a.State,
		ApplicationID: a.ApplicationID, TenantID: a.TenantID, CreatedDate: a.CreatedDate,
		SecretExpiresAt: a.SecretExpiresAt, Products: products,
	}, nil
}

// OwnApplicationSecrets returns the client secret of the application
// /clientApplications/{name} if userID owns it, ErrNotOwner otherwise.
func (s *Service) OwnApplicationSecrets(ctx context.Context, userID, name string) (Secrets, error) {
	if !resource.ValidName(name) {
		return Secrets{}, ErrNotOwner
	}
	id := "/clientApplications/" + name
	rec, err := s.opts.Store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Secrets{}, ErrNotOwner
	} else if err != nil {
		return Secrets{}, fmt.Errorf("read %q: %w", id, err)
	}
	var a resource.ClientApplication
	if err := json.Unmarshal(rec.Body, &a); err != nil {
		return Secrets{}, fmt.Errorf("decode %q: %w", id, err)
	}
	if a.OwnerID != userID || userID == "" {
		return Secrets{}, ErrNotOwner
	}
	return s.openSecret(id, &a)
}

// UserTokens verifies a developer's access token and returns the user
// (/users/{id}) it was issued to.
type UserTokens interface {
	User(ctx context.Context, raw string) (userID string, err error)
}

// DeveloperHandler serves the developers' endpoints, for the user named by
// the request's bearer token:
//
//	GET  {prefix}/applications                          their applications
//	POST {prefix}/applications/{name}/listSecrets       one's secret
//
// The management API mounts it as /developer without its own
// authentication; the developer portal may mount it or call
// ListOwnApplications and OwnApplicationSecrets directly.
func (s *Service) DeveloperHandler(prefix string, users UserTokens, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	prefix = strings.TrimRight(prefix, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || raw == "" || len(raw) > jwtvalidate.MaxTokenBytes {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate-developer"`)
			apierror.Write(w, apierror.New(http.StatusUnauthorized, "Unauthorized", "Sign in: send a user's access token from the identity provider as Authorization: Bearer."))
			return
		}
		userID, err := users.User(r.Context(), raw)
		if err != nil {
			log.Info("developer endpoint: token refused", "reason", err.Error())
			w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate-developer", error="invalid_token"`)
			apierror.Write(w, apierror.New(http.StatusUnauthorized, "Unauthorized", "The access token is not valid for a developer of this installation."))
			return
		}
		rest := strings.TrimPrefix(r.URL.Path, prefix)
		switch {
		case rest == "/applications" && r.Method == http.MethodGet:
			apps, err := s.ListOwnApplications(r.Context(), userID)
			if err != nil {
				log.Error("developer endpoint: list applications", "err", err)
				apierror.Write(w, err)
				return
			}
			writeJSON(w, map[string]any{"value": apps, "count": len(apps)})
		case strings.HasPrefix(rest, "/applications/") && strings.HasSuffix(rest, "/listSecrets") && r.Method == http.MethodPost:
			name := strings.TrimSuffix(strings.TrimPrefix(rest, "/applications/"), "/listSecrets")
			sec, err := s.OwnApplicationSecrets(r.Context(), userID, name)
			if errors.Is(err, ErrNotOwner) {
				apierror.Write(w, apierror.New(http.StatusNotFound, "ResourceNotFound", "You have no application %q.", name))
				return
			} else if err != nil {
				log.Error("developer endpoint: list secrets", "err", err)
				apierror.Write(w, err)
				return
			}
			writeJSON(w, sec)
		default:
			apierror.Write(w, apierror.New(http.StatusNotFound, "NotFound", "No developer endpoint at %s %s.", r.Method, r.URL.Path))
		}
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// DirectoryUsers verifies user tokens of the built-in identity provider
// for the management API (aud api://tollgate-management or its appId) and
// maps them to Tollgate users: the directory user with the token's oid,
// and the /users/{id} whose email is that user's mail (or, without one,
// user principal name).
type DirectoryUsers struct {
	Store     store.Store
	Validator *jwtvalidate.Validator
}

// User implements UserTokens.
func (d *DirectoryUsers) User(ctx context.Context, raw string) (string, error) {
	tok, err := d.Validator.Validate(ctx, raw)
	if err != nil {
		return "", err
	}
	claims := tok.Claims()
	if claims["idtyp"] != "user" {
		return "", errors.New("not a user's token")
	}
	oid, _ := claims["oid"].(string)
	if oid == "" {
		return "", errors.New("token has no oid")
	}
	mgmt, err := d.Store.Get(ctx, "/directory/applications/tollgate-management")
	if err != nil {
		return "", fmt.Errorf("read the management application: %w", err)
	}
	var app identity.Application
	if err := json.Unmarshal(mgmt.Body, &app); err != nil {
		return "", fmt.Errorf("decode the management application: %w", err)
	}
	aud := false
	for _, a := range tok.Audiences {
		aud = aud || strings.EqualFold(a, app.AppID) || a == identity.ManagementIdentifier
	}
	if !aud {
		return "", errors.New("token is not for the management API")
	}
	dusers, err := d.Store.List(ctx, identity.KindUsers, "")
	if err != nil {
		return "", fmt.Errorf("list directory users: %w", err)
	}
	email := ""
	for _, rec := range dusers {
		var u identity.User
		if err := json.Unmarshal(rec.Body, &u); err != nil {
			return "", fmt.Errorf("decode %q: %w", rec.ID, err)
		}
		// A disabled account, or a token from before the user's sign-ins
		// were revoked (a new password), is refused.
		if strings.EqualFold(u.ObjectID, oid) && resource.Bool(u.AccountEnabled, true) && !tok.IssuedAt.Before(u.SignInSessionsValidFrom.Truncate(time.Second)) {
			email = u.Mail
			if email == "" {
				email = u.UserPrincipalName
			}
		}
	}
	if email == "" {
		return "", errors.New("no enabled directory user has the token's oid")
	}
	users, err := d.Store.List(ctx, "users", "")
	if err != nil {
		return "", fmt.Errorf("list users: %w", err)
	}
	for _, rec := range users {
		var u resource.User
		if err := json.Unmarshal(rec.Body, &u); err != nil {
			return "", fmt.Errorf("decode %q: %w", rec.ID, err)
		}
		if strings.EqualFold(u.Email, email) && (u.State == "" || u.State == "active") {
			return rec.ID, nil
		}
	}
	return "", errors.New("no active user has the directory user's email")
}
