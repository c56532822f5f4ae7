package resource

import (
	"net/url"
	"regexp"
	"strings"
)

// PortalSettings are the developer portal's operator settings:
// /portalSettings/default, the only one.
type PortalSettings struct {
	Meta
	// Title names the portal in its header and page titles.
	Title string `json:"title,omitempty"`
	// LogoURL is an absolute http(s) URL of an image shown in the header.
	LogoURL string `json:"logoUrl,omitempty"`
	// PrimaryColor (links, buttons, header) and BackgroundColor are
	// #rrggbb colours.
	PrimaryColor    string `json:"primaryColor,omitempty"`
	BackgroundColor string `json:"backgroundColor,omitempty"`
	// SignUpEnabled lets visitors create their own account (default on).
	SignUpEnabled *bool `json:"signUpEnabled,omitempty"`
	// Terms is shown on the sign-up page, where a new developer must
	// accept it.
	Terms string `json:"terms,omitempty"`
}

// PortalSettingsID is the path of the portal's settings.
const PortalSettingsID = "/portalSettings/default"

// PortalSettingsKind is the kind of the portal's settings.
func PortalSettingsKind() Kind {
	return Kind{Name: "portalSettings", Pattern: "/portalSettings/{}", New: func() Resource { return &PortalSettings{} }, ApplyKind: "portalSettings"}
}

var colorRe = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

func (p *PortalSettings) Normalize() {
	p.Title = strings.TrimSpace(p.Title)
	if p.Title == "" {
		p.Title = "Developer portal"
	}
	if p.PrimaryColor == "" {
		p.PrimaryColor = "#0b5cad"
	}
	if p.BackgroundColor == "" {
		p.BackgroundColor = "#ffffff"
	}
	if p.SignUpEnabled == nil {
		p.SignUpEnabled = boolPtr(true)
	}
	p.PrimaryColor = strings.ToLower(p.PrimaryColor)
	p.BackgroundColor = strings.ToLower(p.BackgroundColor)
}

func (p *PortalSettings) Validate() Errors {
	var errs Errors
	if p.Name != "" && p.Name != "default" {
		errs.Add("name", "the portal has one settings resource: /portalSettings/default")
	}
	if len(p.Title) > 80 {
		errs.Add("title", "must be at most 80 characters")
	}
	if p.LogoURL != "" {
		if u, err := url.Parse(p.LogoURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(p.LogoURL) > 2048 {
			errs.Add("logoUrl", "must be an absolute http or https URL of at most 2048 characters")
		}
	}
	if !colorRe.MatchString(p.PrimaryColor) {
		errs.Add("primaryColor", "must be a #rrggbb colour, got %q", p.PrimaryColor)
	}
	if !colorRe.MatchString(p.BackgroundColor) {
		errs.Add("backgroundColor", "must be a #rrggbb colour, got %q", p.BackgroundColor)
	}
	if len(p.Terms) > 20000 {
		errs.Add("terms", "must be at most 20000 characters")
	}
	return errs
}
