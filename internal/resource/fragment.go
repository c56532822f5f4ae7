package resource

import "strings"

// PolicyFragment is a reusable piece of policy XML that documents include
// with <include-fragment fragment-id="{id}"/>: /policyFragments/{id}.
type PolicyFragment struct {
	Meta
	Description string `json:"description,omitempty"`
	Format      string `json:"format"`
	Value       string `json:"value"`
}

func (f *PolicyFragment) Normalize() {
	if f.Format == "" {
		f.Format = "xml"
	}
}

func (f *PolicyFragment) Validate() Errors {
	var errs Errors
	oneOf(&errs, "format", f.Format, "xml", "rawxml")
	if strings.TrimSpace(f.Value) == "" {
		errs.Add("value", "is required")
	}
	if len(f.Description) > 1000 {
		errs.Add("description", "must be at most 1000 characters")
	}
	return errs
}
