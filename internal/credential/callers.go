package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/jwtvalidate"
	"github.com/tollgate/tollgate/internal/store"
)

// CallerAudience is the identifier URI of the credential manager's
// application in the built-in directory: callers of
// get-authorization-context with identity-type="jwt" present a token for it
// (APIM's https://azure-api.net/authorization-manager).
const CallerAudience = "api://tollgate-credential-manager"

// applicationsKind is the built-in directory's application kind.
const applicationsKind = "directory/applications"

// localCallers validates callers' tokens issued by the built-in identity
// provider for the credential manager's application.
type localCallers struct {
	v   *jwtvalidate.Validator
	st  store.Store
	now func() time.Time

	mu      sync.Mutex
	appIDs  []string // application ids with CallerAudience
	fetched time.Time
}

// NewLocalCallers returns the verifier for identity-type="jwt": tokens of
// the built-in provider (deps.LocalKeys), whose audience is the
// application with identifier URI CallerAudience, read from st.
func NewLocalCallers(st store.Store, deps jwtvalidate.Deps) (CallerVerifier, error) {
	v, err := jwtvalidate.New(jwtvalidate.Config{LocalKeys: true}, deps)
	if err != nil {
		return nil, fmt.Errorf("caller token validator: %w", err)
	}
	return &localCallers{v: v, st: st, now: time.Now}, nil
}

// audiences returns the accepted audiences, re-read every 30 seconds.
func (c *localCallers) audiences(ctx context.Context) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fetched.IsZero() || c.now().Sub(c.fetched) > 30*time.Second {
		recs, err := c.st.List(ctx, applicationsKind, "")
		if err != nil {
			return nil, fmt.Errorf("list applications: %w", err)
		}
		var ids []string
		for _, r := range recs {
			var app struct {
				AppID          string   `json:"appId"`
				IdentifierURIs []string `json:"identifierUris"`
			}
			if json.Unmarshal(r.Body, &app) != nil {
				continue
			}
			for _, u := range app.IdentifierURIs {
				if strings.EqualFold(u, CallerAudience) {
					ids = append(ids, app.AppID)
				}
			}
		}
		c.appIDs, c.fetched = ids, c.now()
	}
	return append([]string{CallerAudience}, c.appIDs...), nil
}

func (c *localCallers) VerifyCaller(ctx context.Context, raw string) (Caller, error) {
	tok, err := c.v.Validate(ctx, raw)
	if err != nil {
		var ve *jwtvalidate.Error
		if errors.As(err, &ve) {
			return Caller{}, errors.New(ve.Message)
		}
		return Caller{}, err
	}
	auds, err := c.audiences(ctx)
	if err != nil {
		return Caller{}, err
	}
	ok := false
	for _, a := range tok.Audiences {
		for _, want := range auds {
			if strings.EqualFold(a, want) {
				ok = true
			}
		}
	}
	if !ok {
		return Caller{}, fmt.Errorf("its audience is not the credential manager (%s)", CallerAudience)
	}
	claims := tok.Claims()
	str := func(name string) string { s, _ := claims[name].(string); return s }
	caller := Caller{TenantID: str("tid"), ObjectID: str("oid"), AppID: str("azp")}
	if caller.AppID == "" {
		caller.AppID = str("appid")
	}
	return caller, nil
}
