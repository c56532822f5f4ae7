package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// Directory is the management API behaviour of the directory's kinds. Its
// methods have the shapes of management.Hooks' Prepare and Delete and of
// management.Action, so the wiring code can plug them in as they are:
//
//	applications: Prepare PrepareApplication, Delete DeleteApplication,
//	  Actions addPassword AddPassword, removePassword RemovePassword,
//	  grantAdminConsent GrantAdminConsent
//	users: Prepare PrepareUser, Actions setPassword SetPassword
type Directory struct {
	now       func() time.Time
	passwords PasswordHasher
}

// maxActionBody bounds action request bodies.
const maxActionBody = 64 << 10

// maxSecretsPerApp bounds the number of client secrets of one app.
const maxSecretsPerApp = 16

func fieldError(target, format string, args ...any) error {
	return apierror.Validation([]resource.FieldError{{Target: target, Message: fmt.Sprintf(format, args...)}})
}

func decodeApp(rec store.Record) (*Application, error) {
	var a Application
	if err := json.Unmarshal(rec.Body, &a); err != nil {
		return nil, fmt.Errorf("decode application %q: %w", rec.ID, err)
	}
	resource.SetMeta(&a, rec.ID)
	return &a, nil
}

func decodeUser(rec store.Record) (*User, error) {
	var u User
	if err := json.Unmarshal(rec.Body, &u); err != nil {
		return nil, fmt.Errorf("decode user %q: %w", rec.ID, err)
	}
	resource.SetMeta(&u, rec.ID)
	return &u, nil
}

type lister interface {
	List(ctx context.Context, kind, parent string) ([]store.Record, error)
}

func listApps(ctx context.Context, tx lister) ([]*Application, error) {
	recs, err := tx.List(ctx, KindApplications, "")
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	out := make([]*Application, 0, len(recs))
	for _, r := range recs {
		a, err := decodeApp(r)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func listUsers(ctx context.Context, tx lister) ([]*User, error) {
	recs, err := tx.List(ctx, KindUsers, "")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]*User, 0, len(recs))
	for _, r := range recs {
		u, err := decodeUser(r)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// findResourceApp finds an application by appId or one of its identifier
// URIs.
func findResourceApp(apps []*Application, ref string) *Application {
	for _, a := range apps {
		if strings.EqualFold(a.AppID, ref) {
			return a
		}
	}
	for _, a := range apps {
		for _, u := range a.IdentifierURIs {
			if strings.EqualFold(u, ref) {
				return a
			}
		}
	}
	return nil
}

func putApp(ctx context.Context, tx store.Tx, a *Application) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode application %q: %w", a.ID, err)
	}
	if _, err := tx.Put(ctx, store.Record{ID: a.ID, Kind: KindApplications, Body: body}, ""); err != nil {
		return fmt.Errorf("write application %q: %w", a.ID, err)
	}
	return nil
}

func putUser(ctx context.Context, tx store.Tx, u *User) error {
	body, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("encode user %q: %w", u.ID, err)
	}
	if _, err := tx.Put(ctx, store.Record{ID: u.ID, Kind: KindUsers, Body: body}, ""); err != nil {
		return fmt.Errorf("write user %q: %w", u.ID, err)
	}
	return nil
}

// PrepareApplication fills generated fields (appId, role and scope ids,
// the default identifier URI), carries over what only actions change, and
// checks uniqueness across the directory.
func (d *Directory) PrepareApplication(ctx context.Context, tx store.Tx, id string, old, new resource.Resource) error {
	n, ok := new.(*Application)
	if !ok {
		return fmt.Errorf("prepare application: unexpected type %T", new)
	}
	var o *Application
	if old != nil {
		o, _ = old.(*Application)
	}
	resource.SetMeta(n, id)
	if o != nil {
		if n.AppID != "" && !strings.EqualFold(n.AppID, o.AppID) {
			return fieldError("appId", "cannot be changed (it is %s)", o.AppID)
		}
		n.AppID = o.AppID
		n.PasswordCredentials = o.PasswordCredentials
		n.SecretHashes = o.SecretHashes
		n.AppRoleAssignments = o.AppRoleAssignments
		n.OAuth2PermissionGrants = o.OAuth2PermissionGrants
	} else {
		// Secrets and grants only come from actions.
		n.PasswordCredentials, n.SecretHashes, n.AppRoleAssignments, n.OAuth2PermissionGrants = nil, nil, nil, nil
		if n.AppID == "" {
			n.AppID = uuid.NewString()
		}
	}
	n.AppID = strings.ToLower(n.AppID)
	fillIDs(n, o)
	if len(n.IdentifierURIs) == 0 {
		n.IdentifierURIs = []string{"api://" + n.AppID}
	}
	if id == managementAppPath {
		if err := checkManagementApp(n); err != nil {
			return err
		}
	}
	apps, err := listApps(ctx, tx)
	if err != nil {
		return err
	}
	for _, a := range apps {
		if a.ID == id {
			continue
		}
		if strings.EqualFold(a.AppID, n.AppID) {
			return fieldError("appId", "%s is used by %s", n.AppID, a.ID)
		}
		for i, u := range n.IdentifierURIs {
			for _, au := range a.IdentifierURIs {
				if strings.EqualFold(u, au) {
					return fieldError(idx("identifierUris", i), "%s is used by %s", u, a.ID)
				}
			}
		}
	}
	return nil
}

// fillIDs gives roles and scopes without an id the id of the old role or
// scope with the same value, or a new UUID.
func fillIDs(n, o *Application) {
	oldRole := map[string]string{}
	oldScope := map[string]string{}
	if o != nil {
		for _, r := range o.AppRoles {
			oldRole[r.Value] = r.ID
		}
		if o.API != nil {
			for _, s := range o.API.OAuth2PermissionScopes {
				oldScope[s.Value] = s.ID
			}
		}
	}
	for i := range n.AppRoles {
		r := &n.AppRoles[i]
		if r.ID == "" {
			if r.ID = oldRole[r.Value]; r.ID == "" {
				r.ID = uuid.NewString()
			}
		}
	}
	if n.API != nil {
		for i := range n.API.OAuth2PermissionScopes {
			s := &n.API.OAuth2PermissionScopes[i]
			if s.ID == "" {
				if s.ID = oldScope[s.Value]; s.ID == "" {
					s.ID = uuid.NewString()
				}
			}
		}
	}
}

func checkManagementApp(a *Application) error {
	found := false
	for _, u := range a.IdentifierURIs {
		found = found || u == ManagementIdentifier
	}
	if !found {
		return fieldError("identifierUris", "the built-in management application must keep %s", ManagementIdentifier)
	}
	for _, want := range []string{RoleManagementReadWrite, RoleManagementRead} {
		ok := false
		for _, r := range a.AppRoles {
			ok = ok || r.Value == want
		}
		if !ok {
			return fieldError("appRoles", "the built-in management application must keep the role %s", want)
		}
	}
	if a.findScope(ScopeManagementUser) == nil {
		return fieldError("api.oauth2PermissionScopes", "the built-in management application must keep the scope %s", ScopeManagementUser)
	}
	return nil
}

// DeleteApplication refuses to delete the built-in management and gateway
// applications.
// Grants other applications hold on a deleted resource are left in place
// and ignored when tokens are issued.
func (d *Directory) DeleteApplication(ctx context.Context, tx store.Tx, id string, old resource.Resource, query map[string]string) error {
	if id == managementAppPath {
		return apierror.New(http.StatusConflict, "Conflict", "The built-in management application cannot be deleted.")
	}
	if id == gatewayAppPath {
		return apierror.New(http.StatusConflict, "Conflict", "The gateway's own application cannot be deleted.")
	}
	return nil
}

type addPasswordRequest struct {
	DisplayName string `json:"displayName"`
	EndDateTime string `json:"endDateTime"`
	// PasswordCredential is Graph's wrapper; either form is accepted.
	PasswordCredential *struct {
		DisplayName string `json:"displayName"`
		EndDateTime string `json:"endDateTime"`
	} `json:"passwordCredential"`
}

// AddedPassword is addPassword's result: the only time secretText is shown.
type AddedPassword struct {
	PasswordCredential
	SecretText string `json:"secretText"`
}

// DefaultSecretLifetime applies when addPassword has no endDateTime.
const DefaultSecretLifetime = 365 * 24 * time.Hour

func decodeBody(body []byte, v any) error {
	if len(body) > maxActionBody {
		return apierror.New(http.StatusRequestEntityTooLarge, "RequestTooLarge", "The request body is too large.")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apierror.New(http.StatusBadRequest, "InvalidRequestBody", "The request body is not valid: %v", err)
	}
	return nil
}

// hashSecret is the stored form of a client secret. Client secrets are 256
// random bits, so an unsalted fast hash is right: there is nothing to
// brute-force, and lookups stay cheap. Comparison is constant-time.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// AddPassword adds a client secret and returns it once.
func (d *Directory) AddPassword(ctx context.Context, tx store.Tx, id string, current resource.Resource, body []byte) (int, any, error) {
	a, ok := current.(*Application)
	if !ok {
		return 0, nil, fmt.Errorf("addPassword: unexpected type %T", current)
	}
	var req addPasswordRequest
	if err := decodeBody(body, &req); err != nil {
		return 0, nil, err
	}
	if req.PasswordCredential != nil {
		req.DisplayName, req.EndDateTime = req.PasswordCredential.DisplayName, req.PasswordCredential.EndDateTime
	}
	now := d.now().UTC()
	end := now.Add(DefaultSecretLifetime)
	if req.EndDateTime != "" {
		t, err := time.Parse(time.RFC3339, req.EndDateTime)
		if err != nil {
			return 0, nil, fieldError("endDateTime", "must be an RFC 3339 date-time")
		}
		if !t.After(now) {
			return 0, nil, fieldError("endDateTime", "must be in the future")
		}
		end = t.UTC()
	}
	if len(req.DisplayName) > 256 {
		return 0, nil, fieldError("displayName", "must be at most 256 characters")
	}
	if len(a.PasswordCredentials) >= maxSecretsPerApp {
		return 0, nil, apierror.New(http.StatusConflict, "TooManySecrets", "An application has at most %d secrets; remove one first.", maxSecretsPerApp)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return 0, nil, fmt.Errorf("addPassword: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	cred := PasswordCredential{
		KeyID:         uuid.NewString(),
		DisplayName:   req.DisplayName,
		Hint:          secret[:3],
		StartDateTime: now.Format(time.RFC3339),
		EndDateTime:   end.Format(time.RFC3339),
	}
	a.PasswordCredentials = append(a.PasswordCredentials, cred)
	if a.SecretHashes == nil {
		a.SecretHashes = map[string]string{}
	}
	a.SecretHashes[cred.KeyID] = hashSecret(secret)
	resource.SetMeta(a, id)
	if err := putApp(ctx, tx, a); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, AddedPassword{PasswordCredential: cred, SecretText: secret}, nil
}

// RemovePassword removes a client secret by keyId.
func (d *Directory) RemovePassword(ctx context.Context, tx store.Tx, id string, current resource.Resource, body []byte) (int, any, error) {
	a, ok := current.(*Application)
	if !ok {
		return 0, nil, fmt.Errorf("removePassword: unexpected type %T", current)
	}
	var req struct {
		KeyID string `json:"keyId"`
	}
	if err := decodeBody(body, &req); err != nil {
		return 0, nil, err
	}
	if req.KeyID == "" {
		return 0, nil, fieldError("keyId", "is required")
	}
	kept := a.PasswordCredentials[:0:0]
	found := false
	for _, c := range a.PasswordCredentials {
		if c.KeyID == req.KeyID {
			found = true
			continue
		}
		kept = append(kept, c)
	}
	if !found {
		return 0, nil, apierror.New(http.StatusNotFound, "ResourceNotFound", "No secret with keyId %s.", req.KeyID)
	}
	a.PasswordCredentials = kept
	delete(a.SecretHashes, req.KeyID)
	resource.SetMeta(a, id)
	if err := putApp(ctx, tx, a); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// ConsentResult is grantAdminConsent's answer.
type ConsentResult struct {
	AppRoleAssignments     []AppRoleAssignment     `json:"appRoleAssignments"`
	OAuth2PermissionGrants []OAuth2PermissionGrant `json:"oauth2PermissionGrants"`
}

// GrantAdminConsent records the app-role assignments and delegated-scope
// grants that requiredResourceAccess asks for, replacing earlier ones (so
// permissions removed from requiredResourceAccess are revoked by consenting
// again).
func (d *Directory) GrantAdminConsent(ctx context.Context, tx store.Tx, id string, current resource.Resource, body []byte) (int, any, error) {
	a, ok := current.(*Application)
	if !ok {
		return 0, nil, fmt.Errorf("grantAdminConsent: unexpected type %T", current)
	}
	if len(body) > maxActionBody {
		return 0, nil, apierror.New(http.StatusRequestEntityTooLarge, "RequestTooLarge", "The request body is too large.")
	}
	apps, err := listApps(ctx, tx)
	if err != nil {
		return 0, nil, err
	}
	res := ConsentResult{AppRoleAssignments: []AppRoleAssignment{}, OAuth2PermissionGrants: []OAuth2PermissionGrant{}}
	var details []resource.FieldError
	for i, rra := range a.RequiredResourceAccess {
		t := idx("requiredResourceAccess", i)
		r := findResourceApp(apps, rra.ResourceAppID)
		if r == nil {
			details = append(details, resource.FieldError{Target: t + ".resourceAppId", Message: fmt.Sprintf("no application in the directory has appId or identifier URI %q", rra.ResourceAppID)})
			continue
		}
		var scopes []string
		for j, ra := range rra.ResourceAccess {
			tt := idx(t+".resourceAccess", j)
			switch ra.Type {
			case "Role":
				role := r.findRole(ra.ID)
				if role == nil {
					details = append(details, resource.FieldError{Target: tt + ".id", Message: fmt.Sprintf("%s has no app role %q", r.ID, ra.ID)})
					continue
				}
				if !role.allows(MemberApplication) {
					details = append(details, resource.FieldError{Target: tt + ".id", Message: fmt.Sprintf("app role %s cannot be granted to applications", role.Value)})
					continue
				}
				asg := AppRoleAssignment{ResourceAppID: r.AppID, AppRoleID: role.ID}
				if !containsAssignment(res.AppRoleAssignments, asg) {
					asg.ID = uuid.NewString()
					res.AppRoleAssignments = append(res.AppRoleAssignments, asg)
				}
			case "Scope":
				s := r.findScope(ra.ID)
				if s == nil {
					details = append(details, resource.FieldError{Target: tt + ".id", Message: fmt.Sprintf("%s exposes no scope %q", r.ID, ra.ID)})
					continue
				}
				scopes = appendUnique(scopes, s.Value)
			}
		}
		if len(scopes) > 0 {
			merged := false
			for k := range res.OAuth2PermissionGrants {
				if res.OAuth2PermissionGrants[k].ResourceAppID == r.AppID {
					res.OAuth2PermissionGrants[k].Scope = strings.Join(appendUnique(strings.Fields(res.OAuth2PermissionGrants[k].Scope), scopes...), " ")
					merged = true
				}
			}
			if !merged {
				res.OAuth2PermissionGrants = append(res.OAuth2PermissionGrants, OAuth2PermissionGrant{ResourceAppID: r.AppID, Scope: strings.Join(scopes, " ")})
			}
		}
	}
	if len(details) > 0 {
		return 0, nil, apierror.Validation(details)
	}
	a.AppRoleAssignments = res.AppRoleAssignments
	a.OAuth2PermissionGrants = res.OAuth2PermissionGrants
	resource.SetMeta(a, id)
	if err := putApp(ctx, tx, a); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}

func containsAssignment(list []AppRoleAssignment, a AppRoleAssignment) bool {
	for _, x := range list {
		if x.ResourceAppID == a.ResourceAppID && x.AppRoleID == a.AppRoleID {
			return true
		}
	}
	return false
}

func appendUnique(list []string, vs ...string) []string {
	for _, v := range vs {
		found := false
		for _, x := range list {
			found = found || x == v
		}
		if !found {
			list = append(list, v)
		}
	}
	return list
}

// findRole finds an app role by id or value.
func (a *Application) findRole(ref string) *AppRole {
	for i := range a.AppRoles {
		if strings.EqualFold(a.AppRoles[i].ID, ref) || a.AppRoles[i].Value == ref {
			return &a.AppRoles[i]
		}
	}
	return nil
}

// findScope finds a delegated scope by id or value.
func (a *Application) findScope(ref string) *PermissionScope {
	if a.API == nil {
		return nil
	}
	for i := range a.API.OAuth2PermissionScopes {
		s := &a.API.OAuth2PermissionScopes[i]
		if strings.EqualFold(s.ID, ref) || s.Value == ref {
			return s
		}
	}
	return nil
}

// PrepareUser generates the object id, carries over the password hash and
// signInSessionsValidFromDateTime (moving it when the account is disabled),
// checks userPrincipalName uniqueness and resolves app-role assignments.
func (d *Directory) PrepareUser(ctx context.Context, tx store.Tx, id string, old, new resource.Resource) error {
	n, ok := new.(*User)
	if !ok {
		return fmt.Errorf("prepare user: unexpected type %T", new)
	}
	resource.SetMeta(n, id)
	if o, _ := old.(*User); o != nil {
		if n.ObjectID != "" && !strings.EqualFold(n.ObjectID, o.ObjectID) {
			return fieldError("objectId", "cannot be changed (it is %s)", o.ObjectID)
		}
		n.ObjectID = o.ObjectID
		n.PasswordHash = o.PasswordHash
		n.SignInSessionsValidFrom = o.SignInSessionsValidFrom
		if o.enabled() && !n.enabled() {
			// Disabling ends every sign-in, so that enabling again later
			// does not revive the tokens issued before.
			n.SignInSessionsValidFrom = d.now().UTC()
		}
	} else {
		n.PasswordHash = ""
		n.SignInSessionsValidFrom = time.Time{}
		if n.ObjectID == "" {
			n.ObjectID = uuid.NewString()
		} else if _, err := uuid.Parse(n.ObjectID); err != nil {
			return fieldError("objectId", "must be a UUID")
		} else {
			// A given objectId may be a deleted user's: the tokens issued
			// to that user must not become this one's.
			n.SignInSessionsValidFrom = d.now().UTC()
		}
	}
	n.ObjectID = strings.ToLower(n.ObjectID)
	users, err := listUsers(ctx, tx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.ID == id {
			continue
		}
		if strings.EqualFold(u.UserPrincipalName, n.UserPrincipalName) {
			return fieldError("userPrincipalName", "%s is used by %s", n.UserPrincipalName, u.ID)
		}
		if u.ObjectID == n.ObjectID {
			return fieldError("objectId", "%s is used by %s", n.ObjectID, u.ID)
		}
	}
	if len(n.AppRoleAssignments) > 0 {
		apps, err := listApps(ctx, tx)
		if err != nil {
			return err
		}
		var details []resource.FieldError
		for i := range n.AppRoleAssignments {
			asg := &n.AppRoleAssignments[i]
			t := idx("appRoleAssignments", i)
			r := findResourceApp(apps, asg.ResourceAppID)
			if r == nil {
				details = append(details, resource.FieldError{Target: t + ".resourceAppId", Message: fmt.Sprintf("no application has appId or identifier URI %q", asg.ResourceAppID)})
				continue
			}
			role := r.findRole(asg.AppRoleID)
			if role == nil {
				details = append(details, resource.FieldError{Target: t + ".appRoleId", Message: fmt.Sprintf("%s has no app role %q", r.ID, asg.AppRoleID)})
				continue
			}
			if !role.allows(MemberUser) {
				details = append(details, resource.FieldError{Target: t + ".appRoleId", Message: fmt.Sprintf("app role %s cannot be assigned to users", role.Value)})
				continue
			}
			asg.ResourceAppID, asg.AppRoleID = r.AppID, role.ID
			if asg.ID == "" {
				asg.ID = uuid.NewString()
			}
		}
		if len(details) > 0 {
			return apierror.Validation(details)
		}
	}
	return nil
}

// SetPassword sets a user's password ({"password": "..."} or Graph's
// {"passwordProfile": {"password": "..."}}), stored as an argon2id hash.
func (d *Directory) SetPassword(ctx context.Context, tx store.Tx, id string, current resource.Resource, body []byte) (int, any, error) {
	u, ok := current.(*User)
	if !ok {
		return 0, nil, fmt.Errorf("setPassword: unexpected type %T", current)
	}
	var req struct {
		Password        string `json:"password"`
		PasswordProfile *struct {
			Password string `json:"password"`
		} `json:"passwordProfile"`
	}
	if err := decodeBody(body, &req); err != nil {
		return 0, nil, err
	}
	if req.PasswordProfile != nil && req.Password == "" {
		req.Password = req.PasswordProfile.Password
	}
	if n := len([]rune(req.Password)); n < 8 || len(req.Password) > 256 {
		return 0, nil, fieldError("password", "must be 8 to 256 characters")
	}
	h, err := d.passwords.Hash(req.Password)
	if err != nil {
		return 0, nil, fmt.Errorf("setPassword: %w", err)
	}
	u.PasswordHash = h
	// A new password ends every sign-in made with the old one.
	u.SignInSessionsValidFrom = d.now().UTC()
	resource.SetMeta(u, id)
	if err := putUser(ctx, tx, u); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// rolesHeld returns the values of a's enabled roles, open to member, that
// the assignments grant.
func (a *Application) rolesHeld(assignments []AppRoleAssignment, member string) []string {
	var roles []string
	for _, asg := range assignments {
		if asg.ResourceAppID != a.AppID {
			continue
		}
		if role := a.findRole(asg.AppRoleID); role != nil && role.enabled() && role.allows(member) {
			roles = appendUnique(roles, role.Value)
		}
	}
	return roles
}
