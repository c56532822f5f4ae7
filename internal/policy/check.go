package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// This file is the management API's view of the engine: check a document,
// fragment or named value change before it is saved, and find the
// documents that depend on a named value or fragment.

// Report is the outcome of checking a document or fragment: Problems
// refuse it; Warnings do not (they are shown with the management API's
// answer and by tollgate policy check). Both are sorted by position.
type Report struct {
	Problems []Problem
	Warnings []Problem
}

// newCheck starts a check that collects warnings.
func (c *Compiler) newCheck(cc *compileCtx) *compileCtx {
	cc.c = c
	cc.warnings = new([]Problem)
	return cc
}

func (cc *compileCtx) report() Report {
	return Report{Problems: sortProblems(cc.problems), Warnings: sortProblems(*cc.warnings)}
}

// CheckDocument compiles a policy document as it would run at id (its
// record path, e.g. "/apis/echo/policies/policy") and returns every problem
// found, positioned in value. Named values and fragments come from lookup.
// An empty result means the document can be saved.
func (c *Compiler) CheckDocument(ctx context.Context, id, value string, lookup Lookup) []Problem {
	return c.checkDocument(ctx, id, value, lookup).Problems
}

func (c *Compiler) checkDocument(ctx context.Context, id, value string, lookup Lookup) Report {
	scope, _, ok := ScopeOf(id)
	if !ok {
		return Report{Problems: []Problem{{Line: 1, Column: 1, Message: fmt.Sprintf("%s is not a policy document path", id)}}}
	}
	cc := c.newCheck(&compileCtx{ctx: ctx, scope: scope, lookup: lookup})
	cc.compileDocument(value, id)
	return cc.report()
}

// CheckFragment compiles a fragment's XML (<fragment>...</fragment>) with
// id as its own name, accepting each policy in any section where it may
// stand; the documents including it are checked for their sections by
// CheckRecord.
func (c *Compiler) CheckFragment(ctx context.Context, id, value string, lookup Lookup) []Problem {
	return c.checkFragment(ctx, id, value, lookup).Problems
}

func (c *Compiler) checkFragment(ctx context.Context, id, value string, lookup Lookup) Report {
	cc := c.newCheck(&compileCtx{ctx: ctx, scope: ScopeGlobal, section: secAll, lookup: lookup, frags: []string{resource.NameOf(id)}})
	cc.compileFragment(value, "")
	return cc.report()
}

// CheckRecord checks a stored policy document or fragment record against
// lookup: after a named value or fragment it uses changes, call it for each
// of Users' results and refuse the change if any has problems.
func (c *Compiler) CheckRecord(ctx context.Context, rec store.Record, lookup Lookup) []Problem {
	return c.Check(ctx, rec, lookup).Problems
}

// Check is CheckRecord with the warnings.
func (c *Compiler) Check(ctx context.Context, rec store.Record, lookup Lookup) Report {
	switch {
	case rec.Kind == resource.KindPolicyFragments:
		var f resource.PolicyFragment
		if err := json.Unmarshal(rec.Body, &f); err != nil {
			return Report{Problems: []Problem{{Line: 1, Column: 1, Message: "cannot decode fragment: " + err.Error()}}}
		}
		return c.checkFragment(ctx, rec.ID, f.Value, lookup)
	default:
		var p resource.Policy
		if err := json.Unmarshal(rec.Body, &p); err != nil {
			return Report{Problems: []Problem{{Line: 1, Column: 1, Message: "cannot decode policy: " + err.Error()}}}
		}
		return c.checkDocument(ctx, rec.ID, p.Value, lookup)
	}
}

// CheckOffline checks a document or fragment without a store, as `tollgate
// policy check` does: named values are treated as defined unless
// namedValues is non-nil, and fragments are not looked at (their
// references are only checked for shape).
func (c *Compiler) CheckOffline(text string, namedValues map[string]string) []Problem {
	return c.CheckOfflineReport(text, namedValues).Problems
}

// CheckOfflineReport is CheckOffline with the warnings.
func (c *Compiler) CheckOfflineReport(text string, namedValues map[string]string) Report {
	values := make(map[string]ResolvedValue, len(namedValues))
	for k, v := range namedValues {
		values[k] = ResolvedValue{Value: v}
	}
	cc := c.newCheck(&compileCtx{ctx: context.Background(), scope: ScopeGlobal, offline: namedValues == nil, standalone: true,
		lookup: &recordsLookup{values: values, frags: map[string]string{}}})
	if doc, err := Read(text); err == nil && doc.Root.Name == "fragment" {
		cc.section = secAll
		cc.frags = []string{"(file)"}
		cc.compileFragment(text, "")
	} else {
		cc.compileDocument(text, "")
	}
	return cc.report()
}

func sortProblems(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Column < ps[j].Column
	})
	return ps
}

// Refs are what a document or fragment refers to.
type Refs struct {
	NamedValues []string // {{name}}s
	Fragments   []string // include-fragment fragment-ids
}

// References lists the named values and fragments a document's text
// refers to (a document that does not read still has its {{name}}s found).
func References(text string) Refs {
	var r Refs
	for _, ref := range findNamedValues(text) {
		if !slices.Contains(r.NamedValues, ref.name) {
			r.NamedValues = append(r.NamedValues, ref.name)
		}
	}
	// Fragment ids are read from the tree: named values are not
	// substituted, so an id written as {{name}} is not resolved here.
	if doc, err := Read(text); err == nil {
		var walk func(e *Element)
		walk = func(e *Element) {
			if e.Name == "include-fragment" {
				if a, ok := e.Attr("fragment-id"); ok && !slices.Contains(r.Fragments, a.Value.Value) {
					r.Fragments = append(r.Fragments, a.Value.Value)
				}
			}
			for _, c := range e.Children {
				walk(c)
			}
		}
		walk(doc.Root)
	}
	return r
}

// Users returns the ids of the policy documents and fragments among
// records that refer to target, a named value or fragment record, so that
// deleting it can be refused (409) naming them, or changing it re-checked
// with CheckRecord. Named values are matched by display name and by name.
func Users(records []store.Record, target store.Record) []string {
	var names []string
	isFragment := target.Kind == resource.KindPolicyFragments
	names = append(names, resource.NameOf(target.ID))
	if !isFragment {
		var nv resource.NamedValue
		if json.Unmarshal(target.Body, &nv) == nil && nv.DisplayName != "" && nv.DisplayName != names[0] {
			names = append(names, nv.DisplayName)
		}
	}
	var out []string
	for _, rec := range records {
		if rec.ID == target.ID || (rec.Kind != resource.KindPolicyFragments && !isPolicyKind(rec.Kind)) {
			continue
		}
		text := recordText(rec)
		refs := References(text)
		list := refs.NamedValues
		if isFragment {
			list = refs.Fragments
		}
		for _, n := range names {
			if slices.Contains(list, n) {
				out = append(out, rec.ID)
				break
			}
		}
	}
	return out
}

// recordText is the XML of a policy document or fragment record.
func recordText(rec store.Record) string {
	if rec.Kind == resource.KindPolicyFragments {
		var f resource.PolicyFragment
		_ = json.Unmarshal(rec.Body, &f)
		return f.Value
	}
	var p resource.Policy
	_ = json.Unmarshal(rec.Body, &p)
	return p.Value
}

func isPolicyKind(kind string) bool { return slices.Contains(resource.PolicyKinds(), kind) }

// StoreLookup resolves named values and fragments inside a management
// write transaction, so a check sees the change being made. Secret named
// values are unsealed with Options.Open.
func (c *Compiler) StoreLookup(tx store.Tx) Lookup { return &txLookup{c: c, tx: tx} }

type txLookup struct {
	c      *Compiler
	tx     store.Tx
	values map[string]ResolvedValue
}

func (l *txLookup) NamedValue(ctx context.Context, n string) (ResolvedValue, bool, error) {
	if l.values == nil {
		recs, err := l.tx.List(ctx, resource.KindNamedValues, "")
		if err != nil {
			return ResolvedValue{}, false, fmt.Errorf("list named values: %w", err)
		}
		lk, err := l.c.RecordsLookup(recs)
		if err != nil {
			return ResolvedValue{}, false, err
		}
		l.values = lk.(*recordsLookup).values
	}
	v, ok := l.values[n]
	return v, ok, nil
}

func (l *txLookup) exists(ctx context.Context, id string) (bool, error) {
	_, err := l.tx.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (l *txLookup) Fragment(ctx context.Context, id string) (string, bool, error) {
	rec, err := l.tx.Get(ctx, "/policyFragments/"+resource.NameOf(id))
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get fragment %q: %w", id, err)
	}
	var f resource.PolicyFragment
	if err := json.Unmarshal(rec.Body, &f); err != nil {
		return "", false, fmt.Errorf("decode fragment %q: %w", id, err)
	}
	return f.Value, true, nil
}
