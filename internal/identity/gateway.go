package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/store"
)

// The gateway's own identity: a built-in application (a service principal,
// like an APIM instance's system-assigned managed identity). Its appId is
// its object id in tokens (oid) and in access policies. The gateway gets
// its tokens in process (GatewayToken): there is no client secret to keep,
// rotate or leak, and the identity listener need not be reachable from the
// gateway.
const (
	gatewayAppName = "tollgate-gateway"
	gatewayAppPath = applicationsPrefix + gatewayAppName
)

// ErrUnknownResource: no application in the directory has the resource's
// identifier URI or appId.
var ErrUnknownResource = errors.New("no resource in the directory has this name")

// GatewayIdentity is GET /directory's description of the gateway's
// identity.
type GatewayIdentity struct {
	ID          string `json:"id"`
	AppID       string `json:"appId"`
	ObjectID    string `json:"objectId"`
	DisplayName string `json:"displayName"`
}

// ensureGatewayApp makes the gateway's application once.
func (p *Provider) ensureGatewayApp(ctx context.Context) error {
	if _, err := p.store.Get(ctx, gatewayAppPath); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read the gateway's application: %w", err)
	}
	err := p.createBuiltInApp(ctx, gatewayAppPath, &Application{
		DisplayName: "Tollgate Gateway",
		Description: "The gateway's own identity (authentication-managed-identity, the credential manager's access policies).",
	})
	if err != nil {
		return fmt.Errorf("create the gateway's application: %w", err)
	}
	return nil
}

// createBuiltInApp stores app at path unless it exists (another node may
// be making it at the same moment).
func (p *Provider) createBuiltInApp(ctx context.Context, path string, app *Application) error {
	_, err := p.store.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(ctx, path); err == nil {
			return nil
		}
		app.Normalize()
		if err := p.dir.PrepareApplication(ctx, tx, path, nil, app); err != nil {
			return err
		}
		body, err := json.Marshal(app)
		if err != nil {
			return err
		}
		_, err = tx.Put(ctx, store.Record{ID: path, Kind: KindApplications, Body: body}, "-")
		if errors.Is(err, store.ErrConflict) {
			return nil
		}
		return err
	})
	return err
}

// Gateway returns the gateway's identity (after Bootstrap).
func (p *Provider) Gateway(ctx context.Context) (GatewayIdentity, error) {
	snap, err := p.directory(ctx)
	if err != nil {
		return GatewayIdentity{}, err
	}
	a := snap.appsAt[gatewayAppPath]
	if a == nil {
		return GatewayIdentity{}, errors.New("the gateway's application is missing from the directory")
	}
	return GatewayIdentity{ID: gatewayAppPath, AppID: a.AppID, ObjectID: a.AppID, DisplayName: a.DisplayName}, nil
}

// GatewayToken issues, in process, an app-only access token of the
// gateway's identity for resource (an application's identifier URI or
// appId; a trailing "/.default" or "/" is ignored), exactly as the
// client-credentials grant would. It carries the app roles granted to the
// gateway's application on that resource.
func (p *Provider) GatewayToken(ctx context.Context, resource string) (token string, expires time.Time, err error) {
	snap, err := p.directory(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	a := snap.appsAt[gatewayAppPath]
	if a == nil {
		return "", time.Time{}, errors.New("the gateway's application is missing from the directory")
	}
	ref := strings.TrimRight(strings.TrimSuffix(resource, "/.default"), "/")
	res := findResourceApp(snap.apps, ref)
	if res == nil {
		return "", time.Time{}, fmt.Errorf("%w: %q", ErrUnknownResource, ref)
	}
	now := p.now()
	exp := now.Add(p.opts.AccessTokenLifetime)
	at, err := p.sign(ctx, appClaims(p, a, res, now), true)
	if err != nil {
		return "", time.Time{}, err
	}
	return at, exp, nil
}

// appClaims are the claims of an app-only token of app for res.
func appClaims(p *Provider, app, res *Application, now time.Time) accessClaims {
	return accessClaims{
		Iss: p.Issuer(), Sub: app.AppID, Aud: res.AppID,
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(p.opts.AccessTokenLifetime).Unix(),
		Jti: uuid.NewString(), ClientID: app.AppID, Azp: app.AppID, Azpacr: "1",
		Tid: p.Tenant().ID, Oid: app.AppID, Idtyp: "app", Roles: res.rolesHeld(app.AppRoleAssignments, MemberApplication), Ver: "2.0",
	}
}
