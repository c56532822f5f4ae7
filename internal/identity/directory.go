// Package identity is Tollgate's built-in OAuth 2.0 / OpenID Connect
// provider, shaped like Microsoft Entra ID's v2 endpoints, and its
// directory of application registrations and users.
package identity

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/resource"
)

// Kind names and path prefixes of the directory's resources.
const (
	KindApplications = "directory/applications"
	KindUsers        = "directory/users"

	applicationsPrefix = "/directory/applications/"
	usersPrefix        = "/directory/users/"
)

// Kinds returns the directory's resource kinds, for the registry.
func Kinds() []resource.Kind {
	return []resource.Kind{
		{Name: KindApplications, Pattern: "/directory/applications/{}", New: func() resource.Resource { return &Application{} },
			Hidden: []string{"secretHashes"}, ReadOnly: []string{"passwordCredentials", "appRoleAssignments", "oauth2PermissionGrants"},
			ApplyKind: "application", BuiltIn: []string{managementAppPath, PortalAppPath, gatewayAppPath}},
		{Name: KindUsers, Pattern: "/directory/users/{}", New: func() resource.Resource { return &User{} },
			Hidden: []string{"passwordHash"}, ReadOnly: []string{"signInSessionsValidFromDateTime"}, ApplyKind: "directoryUser"},
	}
}

// Application is an app registration, with Microsoft Graph's field names.
// appId, passwordCredentials, appRoleAssignments and oauth2PermissionGrants
// are maintained by the provider (generation, addPassword,
// grantAdminConsent) and carried over on replace.
type Application struct {
	resource.Meta
	AppID                  string                   `json:"appId,omitempty"`
	DisplayName            string                   `json:"displayName"`
	Description            string                   `json:"description,omitempty"`
	IdentifierURIs         []string                 `json:"identifierUris,omitempty"`
	Web                    *RedirectSettings        `json:"web,omitempty"`
	SPA                    *RedirectSettings        `json:"spa,omitempty"`
	PublicClient           *RedirectSettings        `json:"publicClient,omitempty"`
	AppRoles               []AppRole                `json:"appRoles,omitempty"`
	API                    *APISettings             `json:"api,omitempty"`
	RequiredResourceAccess []RequiredResourceAccess `json:"requiredResourceAccess,omitempty"`
	// PasswordCredentials describe the client secrets; the secrets
	// themselves are only stored hashed (SecretHashes).
	PasswordCredentials []PasswordCredential `json:"passwordCredentials,omitempty"`
	// AppRoleAssignments are the app roles granted to this application (as
	// a client) by grantAdminConsent.
	AppRoleAssignments []AppRoleAssignment `json:"appRoleAssignments,omitempty"`
	// OAuth2PermissionGrants are the delegated scopes an administrator
	// consented to for every user.
	OAuth2PermissionGrants []OAuth2PermissionGrant `json:"oauth2PermissionGrants,omitempty"`
	// SecretHashes maps a password credential's keyId to the hex SHA-256 of
	// its secret text (hidden from API callers).
	SecretHashes map[string]string `json:"secretHashes,omitempty"`
}

// RedirectSettings holds one platform's redirect URIs.
type RedirectSettings struct {
	RedirectURIs []string `json:"redirectUris"`
}

// AppRole is a role an application defines for users or applications.
type AppRole struct {
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	DisplayName        string   `json:"displayName,omitempty"`
	Description        string   `json:"description,omitempty"`
	AllowedMemberTypes []string `json:"allowedMemberTypes"`
	IsEnabled          *bool    `json:"isEnabled,omitempty"`
}

// APISettings holds the delegated scopes an application exposes.
type APISettings struct {
	OAuth2PermissionScopes []PermissionScope `json:"oauth2PermissionScopes"`
}

// PermissionScope is a delegated permission ("Colors.Read").
type PermissionScope struct {
	ID                      string `json:"id"`
	Value                   string `json:"value"`
	AdminConsentDisplayName string `json:"adminConsentDisplayName,omitempty"`
	AdminConsentDescription string `json:"adminConsentDescription,omitempty"`
	UserConsentDisplayName  string `json:"userConsentDisplayName,omitempty"`
	// Type is "User" (users may consent) or "Admin" (only admin consent).
	Type      string `json:"type"`
	IsEnabled *bool  `json:"isEnabled,omitempty"`
}

// RequiredResourceAccess lists the permissions a client asks for on one
// resource application.
type RequiredResourceAccess struct {
	ResourceAppID  string           `json:"resourceAppId"`
	ResourceAccess []ResourceAccess `json:"resourceAccess"`
}

// ResourceAccess is one app role ("Role") or delegated scope ("Scope").
type ResourceAccess struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// PasswordCredential is a client secret's metadata.
type PasswordCredential struct {
	KeyID         string `json:"keyId"`
	DisplayName   string `json:"displayName,omitempty"`
	Hint          string `json:"hint,omitempty"`
	StartDateTime string `json:"startDateTime"`
	EndDateTime   string `json:"endDateTime"`
}

// AppRoleAssignment grants an app role of a resource application.
type AppRoleAssignment struct {
	ID            string `json:"id,omitempty"`
	ResourceAppID string `json:"resourceAppId"`
	AppRoleID     string `json:"appRoleId"`
}

// OAuth2PermissionGrant is an admin consent to delegated scopes of one
// resource, for all users.
type OAuth2PermissionGrant struct {
	ResourceAppID string `json:"resourceAppId"`
	Scope         string `json:"scope"`
}

// User is a directory user who can sign in.
type User struct {
	resource.Meta
	// ObjectID is the user's immutable id (the oid and sub claims).
	ObjectID          string `json:"objectId,omitempty"`
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName"`
	Mail              string `json:"mail,omitempty"`
	AccountEnabled    *bool  `json:"accountEnabled,omitempty"`
	// AppRoleAssignments are the app roles the user holds on resource
	// applications. appRoleId may be given as the role's value; it is
	// stored as the role's id.
	AppRoleAssignments []AppRoleAssignment `json:"appRoleAssignments,omitempty"`
	// PasswordHash is the argon2id hash (PHC string), hidden.
	PasswordHash string `json:"passwordHash,omitempty"`
	// SignInSessionsValidFrom is Graph's signInSessionsValidFromDateTime,
	// set by the server: sign-ins from before it (their browser sessions,
	// codes, refresh tokens and access tokens) are refused. It moves when
	// the password is set, when the account is disabled, and when a user is
	// created with a given objectId (which an earlier, deleted user may
	// have had).
	SignInSessionsValidFrom time.Time `json:"signInSessionsValidFromDateTime,omitzero"`
}

// Member types of app roles.
const (
	MemberUser        = "User"
	MemberApplication = "Application"
)

func (a *Application) Normalize() {
	if a.DisplayName == "" {
		a.DisplayName = a.Name
	}
	for i := range a.AppRoles {
		if a.AppRoles[i].IsEnabled == nil {
			t := true
			a.AppRoles[i].IsEnabled = &t
		}
		if a.AppRoles[i].DisplayName == "" {
			a.AppRoles[i].DisplayName = a.AppRoles[i].Value
		}
	}
	if a.API != nil {
		for i := range a.API.OAuth2PermissionScopes {
			s := &a.API.OAuth2PermissionScopes[i]
			if s.IsEnabled == nil {
				t := true
				s.IsEnabled = &t
			}
			if s.Type == "" {
				s.Type = "User"
			}
			if s.AdminConsentDisplayName == "" {
				s.AdminConsentDisplayName = s.Value
			}
		}
	}
	for i := range a.IdentifierURIs {
		a.IdentifierURIs[i] = strings.TrimSpace(a.IdentifierURIs[i])
	}
}

func (a *Application) Validate() resource.Errors {
	var errs resource.Errors
	if len(a.DisplayName) > 256 {
		errs.Add("displayName", "must be at most 256 characters")
	}
	if a.AppID != "" {
		if _, err := uuid.Parse(a.AppID); err != nil {
			errs.Add("appId", "must be a UUID")
		}
	}
	for i, u := range a.IdentifierURIs {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme == "" || (pu.Host == "" && pu.Opaque == "") {
			errs.Add(idx("identifierUris", i), "must be an absolute URI such as api://name")
		} else if pu.Fragment != "" || strings.Contains(u, "#") {
			errs.Add(idx("identifierUris", i), "must not contain a fragment")
		} else if strings.HasSuffix(u, "/.default") || strings.ContainsAny(u, " \t") {
			errs.Add(idx("identifierUris", i), "is not a valid identifier")
		}
	}
	checkRedirects(&errs, "web.redirectUris", a.Web, false)
	checkRedirects(&errs, "spa.redirectUris", a.SPA, false)
	checkRedirects(&errs, "publicClient.redirectUris", a.PublicClient, true)

	values := map[string]bool{}
	ids := map[string]bool{}
	for i, r := range a.AppRoles {
		t := idx("appRoles", i)
		checkPermissionValue(&errs, t+".value", r.Value)
		if values[r.Value] {
			errs.Add(t+".value", "%q is used by another app role; values must be unique", r.Value)
		}
		values[r.Value] = true
		checkID(&errs, t+".id", r.ID, ids)
		if len(r.AllowedMemberTypes) == 0 {
			errs.Add(t+".allowedMemberTypes", "must list User, Application or both")
		}
		for _, m := range r.AllowedMemberTypes {
			if m != MemberUser && m != MemberApplication {
				errs.Add(t+".allowedMemberTypes", "must be User or Application, got %q", m)
			}
		}
	}
	if a.API != nil {
		svalues := map[string]bool{}
		for i, s := range a.API.OAuth2PermissionScopes {
			t := idx("api.oauth2PermissionScopes", i)
			checkPermissionValue(&errs, t+".value", s.Value)
			if svalues[s.Value] {
				errs.Add(t+".value", "%q is used by another scope; values must be unique", s.Value)
			}
			svalues[s.Value] = true
			checkID(&errs, t+".id", s.ID, ids)
			if s.Type != "User" && s.Type != "Admin" {
				errs.Add(t+".type", "must be User or Admin, got %q", s.Type)
			}
		}
	}
	for i, rra := range a.RequiredResourceAccess {
		t := idx("requiredResourceAccess", i)
		if rra.ResourceAppID == "" {
			errs.Add(t+".resourceAppId", "is required")
		}
		for j, ra := range rra.ResourceAccess {
			tt := idx(t+".resourceAccess", j)
			if ra.ID == "" {
				errs.Add(tt+".id", "is required")
			}
			if ra.Type != "Role" && ra.Type != "Scope" {
				errs.Add(tt+".type", "must be Role or Scope, got %q", ra.Type)
			}
		}
	}
	return errs
}

func idx(target string, i int) string {
	return target + "[" + strconv.Itoa(i) + "]"
}

func checkPermissionValue(errs *resource.Errors, target, v string) {
	switch {
	case v == "":
		errs.Add(target, "is required")
	case len(v) > 120:
		errs.Add(target, "must be at most 120 characters")
	case strings.ContainsAny(v, " \t\r\n\"") || strings.HasPrefix(v, "."):
		errs.Add(target, "must not contain spaces or quotes, nor start with '.'")
	}
}

func checkID(errs *resource.Errors, target, id string, seen map[string]bool) {
	if id == "" {
		return // generated by Prepare
	}
	if _, err := uuid.Parse(id); err != nil {
		errs.Add(target, "must be a UUID")
		return
	}
	if seen[id] {
		errs.Add(target, "%s is used twice", id)
	}
	seen[id] = true
}

// checkRedirects applies RFC 9700's rules: no fragment, https except on
// loopback hosts; custom schemes only for native (public client) apps.
func checkRedirects(errs *resource.Errors, target string, s *RedirectSettings, native bool) {
	if s == nil {
		return
	}
	seen := map[string]bool{}
	for i, raw := range s.RedirectURIs {
		t := idx(target, i)
		u, err := url.Parse(raw)
		switch {
		case err != nil || u.Scheme == "":
			errs.Add(t, "must be an absolute URI")
		case u.Fragment != "" || strings.Contains(raw, "#"):
			errs.Add(t, "must not contain a fragment")
		case len(raw) > 2048:
			errs.Add(t, "must be at most 2048 characters")
		case u.Scheme == "https":
			if u.Host == "" {
				errs.Add(t, "must have a host")
			}
		case u.Scheme == "http":
			if !isLoopbackHost(u.Hostname()) {
				errs.Add(t, "must use https unless the host is a loopback address (localhost, 127.0.0.1, [::1])")
			}
		case !native:
			errs.Add(t, "must use https (or http on a loopback host); custom schemes are for publicClient only")
		}
		if seen[raw] {
			errs.Add(t, "is listed twice")
		}
		seen[raw] = true
	}
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (r AppRole) enabled() bool { return resource.Bool(r.IsEnabled, true) }

func (s PermissionScope) enabled() bool { return resource.Bool(s.IsEnabled, true) }

func (r AppRole) allows(member string) bool {
	for _, m := range r.AllowedMemberTypes {
		if m == member {
			return true
		}
	}
	return false
}

// redirectURIs returns every registered redirect URI with whether it
// belongs to a public (no secret) client platform.
func (a *Application) redirectURIs() (out []registeredRedirect) {
	add := func(s *RedirectSettings, public, native bool) {
		if s == nil {
			return
		}
		for _, u := range s.RedirectURIs {
			out = append(out, registeredRedirect{uri: u, public: public, native: native})
		}
	}
	add(a.Web, false, false)
	add(a.SPA, true, false)
	add(a.PublicClient, true, true)
	return out
}

type registeredRedirect struct {
	uri    string
	public bool
	native bool
}

func (u *User) Normalize() {
	u.UserPrincipalName = strings.TrimSpace(u.UserPrincipalName)
	if u.DisplayName == "" {
		u.DisplayName = u.UserPrincipalName
	}
	if u.AccountEnabled == nil {
		t := true
		u.AccountEnabled = &t
	}
}

func (u *User) Validate() resource.Errors {
	var errs resource.Errors
	switch {
	case u.UserPrincipalName == "":
		errs.Add("userPrincipalName", "is required")
	case len(u.UserPrincipalName) > 113 || strings.ContainsAny(u.UserPrincipalName, " \t\r\n\"<>"):
		errs.Add("userPrincipalName", "must be at most 113 characters without spaces, quotes or angle brackets")
	}
	if u.Mail != "" && (!strings.Contains(u.Mail, "@") || strings.ContainsAny(u.Mail, " \t\r\n<>")) {
		errs.Add("mail", "must be an email address")
	}
	if len(u.DisplayName) > 256 {
		errs.Add("displayName", "must be at most 256 characters")
	}
	for i, a := range u.AppRoleAssignments {
		t := idx("appRoleAssignments", i)
		if a.ResourceAppID == "" {
			errs.Add(t+".resourceAppId", "is required")
		}
		if a.AppRoleID == "" {
			errs.Add(t+".appRoleId", "is required")
		}
	}
	return errs
}

func (u *User) enabled() bool { return resource.Bool(u.AccountEnabled, true) }

// signInRevoked reports whether a sign-in at authTime predates the user's
// signInSessionsValidFromDateTime.
func (u *User) signInRevoked(authTime time.Time) bool {
	return authTime.Before(u.SignInSessionsValidFrom)
}
