// Package apimimport reads the folder layout Azure APIOps' extractor writes
// from an Azure API Management instance (apis/, products/, namedValues/,
// policyFragments/, subscriptions/, ...) and plans the Tollgate resources
// that carry the same configuration, listing what does not map and why.
package apimimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tollgate/tollgate/internal/openapi"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
)

// maxFile bounds every file read from the tree.
const maxFile = openapi.MaxDocument

// Item is one resource to create or replace.
type Item struct {
	// Path is the resource's management API path ("/apis/echo").
	Path string
	// Body is the resource (a resource type or a JSON-able map).
	Body any
	// Source is the file it came from, relative to the tree.
	Source string
	// needs are the paths of resources of the tree it refers to: when one
	// of them is not imported, neither is this item.
	needs []string
}

// Skipped is something in the tree that Tollgate does not import.
type Skipped struct {
	Source string // the file or folder, relative to the tree
	Why    string
}

// Warning is something imported that will not work as it did in APIM
// until the operator acts.
type Warning struct {
	Source string
	Why    string
	// Unless is a resource path which, when the server already holds it,
	// makes the warning moot (a backend a policy names that the tree does
	// not hold). Empty: the warning always holds.
	Unless string
}

// Plan is what an import would do, in apply order (parents and referenced
// resources first).
type Plan struct {
	Items    []Item
	Skipped  []Skipped
	Warnings []Warning
}

// armProps is the ARM envelope of the extractor's *Information.json files.
type armProps struct {
	Name       string          `json:"name"`
	Properties json.RawMessage `json:"properties"`
}

// Read plans the import of the extracted tree at dir.
func Read(ctx context.Context, dir string) (*Plan, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", dir)
	}
	r := &reader{root: dir, plan: &Plan{}, folder: map[string]string{}, gone: map[string]string{}, sets: map[string]versionSet{}}
	known := map[string]func(ctx context.Context) error{
		"namedValues":     r.namedValues,
		"policyFragments": r.policyFragments,
		"backends":        r.backends,
		"versionSets":     r.versionSets,
		"apis":            r.apis,
		"products":        r.products,
		"subscriptions":   r.subscriptions,
	}
	why := map[string]string{
		"loggers":              "Tollgate's loggers are its own log output and OpenTelemetry settings, not resources",
		"diagnostics":          "diagnostics settings have no Tollgate resource (Tollgate logs through its own settings)",
		"gateways":             "self-hosted gateway resources have no Tollgate counterpart: every Tollgate node is a gateway",
		"tags":                 "tags are not imported",
		"groups":               "groups are not imported: Tollgate users carry a role (administrator or developer)",
		"authorizationServers": "authorization servers are not imported: define them with tollgate apply",
		"identityProviders":    "identity providers are not imported",
		"workspaces":           "workspaces are not imported",
		"schemas":              "global schemas are not imported",
		"policy restrictions":  "policy restrictions are not imported",
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	order := []string{"namedValues", "policyFragments", "backends", "versionSets", "apis", "products", "subscriptions"}
	present := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."):
		case e.IsDir():
			key := canonicalFolder(name)
			if _, ok := known[key]; ok {
				present[key] = name
			} else if w, ok := why[name]; ok {
				r.skip(name+"/", w)
			} else {
				r.skip(name+"/", "not a folder of the APIOps layout Tollgate knows")
			}
		case name == "policy.xml":
			if err := r.policy("policy.xml", "/policies/policy"); err != nil {
				return nil, err
			}
		default:
			r.skip(name, "not a file of the APIOps layout")
		}
	}
	for _, key := range order {
		if name, ok := present[key]; ok {
			r.folder[key] = name
			if err := known[key](ctx); err != nil {
				return nil, err
			}
		}
	}
	r.dropPoolMembers()
	r.dropDependents()
	r.checkBackendRefs()
	planned := map[string]bool{}
	for _, it := range r.plan.Items {
		planned[it.Path] = true
	}
	for _, k := range r.keyNotes {
		if planned["/subscriptions/"+k.name] {
			r.skip(k.src, "the extractor does not write subscription keys: Tollgate generates new ones (tollgate keys show subscription "+k.name+")")
		}
	}
	r.sortItems()
	return r.plan, nil
}

// canonicalFolder maps the spellings APIOps versions use ("named values",
// "policy fragments") to one name.
func canonicalFolder(name string) string {
	switch strings.ToLower(strings.ReplaceAll(name, " ", "")) {
	case "namedvalues":
		return "namedValues"
	case "policyfragments":
		return "policyFragments"
	case "apis":
		return "apis"
	case "products":
		return "products"
	case "subscriptions":
		return "subscriptions"
	case "backends":
		return "backends"
	case "versionsets", "apiversionsets":
		return "versionSets"
	}
	return name
}

// keyNote is a subscription whose keys are not imported (reported once
// it is known to be imported itself).
type keyNote struct{ src, name string }

type reader struct {
	root   string
	plan   *Plan
	folder map[string]string
	// keyNotes are the subscriptions read, whose keys are not imported.
	keyNotes []keyNote
	// backendRefs are the backends policies route to.
	backendRefs []backendRef
	// gone maps the paths of resources of the tree that are not imported
	// to what they are ("API graphql-api"), so that what refers to them is
	// not imported either.
	gone map[string]string
	sets map[string]versionSet
}

func (r *reader) skip(src, why string) { r.plan.Skipped = append(r.plan.Skipped, Skipped{src, why}) }

// skipGone reports a resource of the tree that is not imported and
// remembers it, so that links to it are not imported either.
func (r *reader) skipGone(path, what, src, why string) {
	r.skip(src, why)
	if _, ok := r.gone[path]; !ok {
		r.gone[path] = what
	}
}

func (r *reader) warn(src, why, unless string) {
	r.plan.Warnings = append(r.plan.Warnings, Warning{Source: src, Why: why, Unless: unless})
}

// planned reports whether the plan writes path.
func (r *reader) planned(path string) bool {
	for _, it := range r.plan.Items {
		if it.Path == path {
			return true
		}
	}
	return false
}

func (r *reader) add(path, src string, body any, needs ...string) {
	r.plan.Items = append(r.plan.Items, Item{Path: path, Body: body, Source: src, needs: needs})
}

// dropDependents leaves out the items that refer to something of the tree
// that is not imported (a product's link to a SOAP API, a subscription to a
// product that was left out, a policy using a secret named value), and
// reports each: writing them would fail.
func (r *reader) dropDependents() {
	planned := map[string]bool{}
	for _, it := range r.plan.Items {
		planned[it.Path] = true
	}
	for changed := true; changed; {
		changed = false
		var kept []Item
		for _, it := range r.plan.Items {
			what := ""
			for _, n := range it.needs {
				if w, ok := r.gone[n]; ok && !planned[n] {
					what = w
					break
				}
			}
			if what == "" {
				kept = append(kept, it)
				continue
			}
			d := describe(it.Path)
			r.skip(it.Source, fmt.Sprintf("%s is not imported because %s was not imported", d, what))
			r.gone[it.Path] = d
			delete(planned, it.Path)
			changed = true
		}
		r.plan.Items = kept
	}
}

// describe names the resource at a management path for a report.
func describe(p string) string {
	seg := strings.Split(strings.TrimPrefix(p, "/"), "/")
	switch {
	case len(seg) == 4 && seg[0] == "products" && seg[2] == "apis":
		return fmt.Sprintf("the link of product %s to API %s", seg[1], seg[3])
	case len(seg) == 2 && seg[0] == "subscriptions":
		return "subscription " + seg[1]
	case len(seg) == 2 && seg[0] == "apis":
		return "API " + seg[1]
	case len(seg) == 2 && seg[0] == "products":
		return "product " + seg[1]
	case len(seg) == 2 && seg[0] == "backends":
		return "backend " + seg[1]
	case len(seg) == 2 && seg[0] == "namedValues":
		return "named value " + seg[1]
	case len(seg) == 2 && seg[0] == "policyFragments":
		return "policy fragment " + seg[1]
	case len(seg) >= 2 && seg[len(seg)-2] == "policies":
		if len(seg) == 2 {
			return "the global policy"
		}
		return "the policy of " + strings.TrimPrefix(describe("/"+strings.Join(seg[:len(seg)-2], "/")), "the ")
	case len(seg) == 4 && seg[0] == "apis" && seg[2] == "operations":
		return fmt.Sprintf("operation %s of API %s", seg[3], seg[1])
	}
	return p
}

// sortItems orders items as apply does: by the resource kinds' dependency
// order, then by path.
func (r *reader) sortItems() {
	rank := map[string]int{}
	for i, k := range resource.NewRegistry().Kinds() {
		rank[k.Name] = i
	}
	reg := resource.NewRegistry()
	kindOf := func(p string) int {
		if k, _, ok := reg.Resolve(p); ok {
			return rank[k.Name]
		}
		return len(rank)
	}
	sort.SliceStable(r.plan.Items, func(i, j int) bool {
		a, b := r.plan.Items[i], r.plan.Items[j]
		if ka, kb := kindOf(a.Path), kindOf(b.Path); ka != kb {
			return ka < kb
		}
		return a.Path < b.Path
	})
}

func (r *reader) read(rel string) ([]byte, error) {
	p := filepath.Join(r.root, rel)
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", rel, maxFile)
	}
	return os.ReadFile(p)
}

// info reads an *Information.json file's properties into v.
func (r *reader) info(rel string, v any) (name string, err error) {
	data, err := r.read(rel)
	if err != nil {
		return "", err
	}
	var env armProps
	if err := json.Unmarshal(data, &env); err != nil {
		return "", fmt.Errorf("%s: %w", rel, err)
	}
	if len(env.Properties) == 0 {
		return env.Name, fmt.Errorf("%s: no properties", rel)
	}
	if err := json.Unmarshal(env.Properties, v); err != nil {
		return "", fmt.Errorf("%s: properties: %w", rel, err)
	}
	return env.Name, nil
}

// subdirs lists the folders of a top-level folder, skipping (and
// reporting) names that are not valid Tollgate names.
func (r *reader) subdirs(folder string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(r.root, folder))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func validName(kindPattern, name string) bool {
	_, _, ok := resource.NewRegistry().Resolve(strings.Replace(kindPattern, "{}", name, 1))
	return ok
}

func (r *reader) policy(rel, path string) error {
	data, err := r.read(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	r.add(path, rel, &resource.Policy{Format: "rawxml", Value: string(data)}, r.policyNeeds(rel, path, string(data))...)
	return nil
}

// backendRef is a set-backend-service backend-id a policy names.
type backendRef struct {
	src, path, backend string
}

// policyNeeds lists the named values and fragments a policy document (or
// fragment) at path refers to, and notes the backends it routes to.
func (r *reader) policyNeeds(src, path, text string) []string {
	refs := policy.References(text)
	var needs []string
	for _, n := range refs.NamedValues {
		needs = append(needs, "/namedValues/"+n)
	}
	for _, f := range refs.Fragments {
		needs = append(needs, "/policyFragments/"+f)
	}
	if doc, err := policy.Read(text); err == nil {
		var walk func(e *policy.Element)
		walk = func(e *policy.Element) {
			if e.Name == "set-backend-service" {
				if a, ok := e.Attr("backend-id"); ok {
					id := strings.TrimSpace(a.Value.Value)
					if id != "" && !strings.HasPrefix(id, "@") && !strings.Contains(id, "{{") {
						r.backendRefs = append(r.backendRefs, backendRef{src, path, strings.TrimPrefix(id, "/backends/")})
					}
				}
			}
			for _, c := range e.Children {
				walk(c)
			}
		}
		walk(doc.Root)
	}
	return needs
}

// checkBackendRefs warns of policies routing to a backend the import does
// not bring: their calls fail until the backend exists.
func (r *reader) checkBackendRefs() {
	planned := map[string]bool{}
	for _, it := range r.plan.Items {
		planned[it.Path] = true
	}
	for _, ref := range r.backendRefs {
		bp := "/backends/" + ref.backend
		if !planned[ref.path] || planned[bp] {
			continue
		}
		why := fmt.Sprintf("set-backend-service backend-id=%q: backend %s is not in the tree", ref.backend, ref.backend)
		if what, ok := r.gone[bp]; ok {
			why = fmt.Sprintf("set-backend-service backend-id=%q: %s was not imported", ref.backend, what)
		}
		r.warn(ref.src, why+"; calls through this policy fail (500 BackendNotFound) until "+bp+" exists", bp)
	}
}

func (r *reader) namedValues(context.Context) error {
	folder := r.folder["namedValues"]
	names, err := r.subdirs(folder)
	if err != nil {
		return err
	}
	for _, n := range names {
		rel := filepath.Join(folder, n, "namedValueInformation.json")
		var p struct {
			DisplayName string   `json:"displayName"`
			Value       *string  `json:"value"`
			Secret      bool     `json:"secret"`
			Tags        []string `json:"tags"`
			KeyVault    *struct {
				SecretIdentifier string `json:"secretIdentifier"`
			} `json:"keyVault"`
		}
		gone := func(why string) {
			what := "named value " + n
			r.skipGone("/namedValues/"+n, what, rel, why)
			// Policies may name it by its display name too.
			if _, ok := r.gone["/namedValues/"+p.DisplayName]; p.DisplayName != "" && !ok {
				r.gone["/namedValues/"+p.DisplayName] = what
			}
		}
		if _, err := r.info(rel, &p); err != nil {
			gone(err.Error())
			continue
		}
		if !validName("/namedValues/{}", n) {
			gone(fmt.Sprintf("%q is not a valid Tollgate name", n))
			continue
		}
		switch {
		case p.KeyVault != nil:
			gone("Key Vault references are not imported: create the named value with its value (tollgate apply)")
			continue
		case p.Value == nil:
			gone("the extractor does not write secret values: create the named value with its value (tollgate apply)")
			continue
		}
		r.add("/namedValues/"+n, rel, &resource.NamedValue{DisplayName: p.DisplayName, Value: *p.Value, Secret: p.Secret, Tags: p.Tags})
	}
	return nil
}

func (r *reader) policyFragments(context.Context) error {
	folder := r.folder["policyFragments"]
	names, err := r.subdirs(folder)
	if err != nil {
		return err
	}
	for _, n := range names {
		rel := filepath.Join(folder, n)
		fp := "/policyFragments/" + n
		if !validName("/policyFragments/{}", n) {
			r.skipGone(fp, "policy fragment "+n, rel, fmt.Sprintf("%q is not a valid Tollgate name", n))
			continue
		}
		var p struct {
			Description string `json:"description"`
		}
		if _, err := r.info(filepath.Join(rel, "policyFragmentInformation.json"), &p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.skipGone(fp, "policy fragment "+n, rel, err.Error())
			continue
		}
		xml, err := r.read(filepath.Join(rel, "policy.xml"))
		if err != nil {
			r.skipGone(fp, "policy fragment "+n, rel, "no policy.xml")
			continue
		}
		xrel := filepath.Join(rel, "policy.xml")
		r.add(fp, xrel, &resource.PolicyFragment{Description: p.Description, Format: "rawxml", Value: string(xml)}, r.policyNeeds(xrel, fp, string(xml))...)
	}
	return nil
}

func (r *reader) apis(ctx context.Context) error {
	folder := r.folder["apis"]
	names, err := r.subdirs(folder)
	if err != nil {
		return err
	}
	for _, n := range names {
		rel := filepath.Join(folder, n)
		if strings.Contains(n, ";rev=") {
			r.skip(rel, "API revisions other than the current one are not imported")
			continue
		}
		ap := "/apis/" + n
		if !validName("/apis/{}", n) {
			r.skipGone(ap, "API "+n, rel, fmt.Sprintf("%q is not a valid Tollgate name", n))
			continue
		}
		// apiInformation.json's properties are APIM's API contract, whose
		// fields Tollgate's API shares; type says HTTP, SOAP, GraphQL, ...
		api := &resource.API{}
		infoRel := filepath.Join(rel, "apiInformation.json")
		if _, err := r.info(infoRel, api); err != nil {
			r.skipGone(ap, "API "+n, rel, err.Error())
			continue
		}
		var kind struct {
			Type         string `json:"type"`
			APIType      string `json:"apiType"`
			APIVersion   string `json:"apiVersion"`
			VersionSetID string `json:"apiVersionSetId"`
		}
		if _, err := r.info(infoRel, &kind); err != nil {
			return err
		}
		// type is the contract's; apiType is create's spelling.
		websocket := strings.EqualFold(kind.Type, "websocket") || strings.EqualFold(kind.APIType, "websocket")
		if websocket {
			if why := webSocketAPI(api); why != "" {
				r.skipGone(ap, "API "+n, rel, why)
				continue
			}
		} else if t := kind.Type; t != "" && !strings.EqualFold(t, "http") || kind.APIType != "" && !strings.EqualFold(kind.APIType, "http") {
			if t == "" || strings.EqualFold(t, "http") {
				t = kind.APIType
			}
			r.skipGone(ap, "API "+n, rel, fmt.Sprintf("%s APIs are not supported (Tollgate imports HTTP APIs)", t))
			continue
		}
		if kind.VersionSetID != "" {
			if why := r.versionPath(api, kind.APIVersion, kind.VersionSetID, infoRel); why != "" {
				r.skipGone(ap, "API "+n, rel, why)
				continue
			}
		}
		api.Meta = resource.Meta{}
		api.AuthenticationSettings = nil // names authorization servers this import does not bring
		api.BackendTimeout = 0
		r.add(ap, infoRel, api)
		specRel := ""
		for _, f := range []string{"specification.yaml", "specification.yml", "specification.json"} {
			if _, err := os.Stat(filepath.Join(r.root, rel, f)); err == nil {
				specRel = filepath.Join(rel, f)
				break
			}
		}
		for _, f := range []string{"specification.wsdl", "specification.wadl", "specification.graphql"} {
			if _, err := os.Stat(filepath.Join(r.root, rel, f)); err == nil {
				why := "only OpenAPI specifications are imported"
				if specRel == "" {
					why += ": the API is imported without operations (add them with tollgate import openapi or tollgate apply)"
				}
				r.skip(filepath.Join(rel, f), why)
			}
		}
		opIDs := map[string]bool{}
		specBad := false
		if websocket {
			// APIM's WebSocket API has one operation, onHandshake: the
			// GET that upgrades, on the API's root.
			op := ap + "/operations/onHandshake"
			r.add(op, infoRel, &resource.Operation{DisplayName: "onHandshake", Method: "GET", URLTemplate: "/"})
			opIDs[op] = true
		}
		if specRel != "" {
			data, err := r.read(specRel)
			if err != nil {
				return err
			}
			doc, err := openapi.Parse(ctx, data)
			if err != nil {
				r.skip(specRel, err.Error())
				specBad = true
			} else {
				imp, err := doc.Convert(n, api.Path)
				if err != nil {
					return err
				}
				for _, o := range imp.Operations {
					r.add(o.ID, specRel, o)
					opIDs[o.ID] = true
				}
				r.add(imp.Spec.ID, specRel, imp.Spec)
				for _, s := range imp.Skipped {
					r.skip(specRel, s)
				}
			}
		}
		if err := r.policy(filepath.Join(rel, "policy.xml"), "/apis/"+n+"/policies/policy"); err != nil {
			return err
		}
		ops, err := os.ReadDir(filepath.Join(r.root, rel, "operations"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, o := range ops {
			if !o.IsDir() {
				continue
			}
			orel := filepath.Join(rel, "operations", o.Name(), "policy.xml")
			if !validName("/apis/x/operations/{}", o.Name()) {
				r.skip(orel, fmt.Sprintf("%q is not a valid Tollgate name", o.Name()))
				continue
			}
			if op := ap + "/operations/" + o.Name(); !opIDs[op] {
				// Its policy would be written to an operation that
				// does not exist.
				if _, err := os.Stat(filepath.Join(r.root, orel)); err == nil {
					why := "operation " + o.Name() + " is not in the API's specification"
					switch {
					case specRel == "":
						why = "operation " + o.Name() + " is not imported: the API has no OpenAPI specification"
					case specBad:
						why = "operation " + o.Name() + " is not imported: the API's specification could not be read"
					}
					r.skip(orel, "the policy of "+describe(op)+" is not imported because "+why)
				}
				continue
			}
			if err := r.policy(orel, "/apis/"+n+"/operations/"+o.Name()+"/policies/policy"); err != nil {
				return err
			}
		}
		for _, sub := range []string{"diagnostics", "tags", "schemas", "releases"} {
			if _, err := os.Stat(filepath.Join(r.root, rel, sub)); err == nil {
				r.skip(filepath.Join(rel, sub)+"/", "API "+sub+" are not imported")
			}
		}
	}
	return nil
}

func (r *reader) products(context.Context) error {
	folder := r.folder["products"]
	names, err := r.subdirs(folder)
	if err != nil {
		return err
	}
	for _, n := range names {
		rel := filepath.Join(folder, n)
		pp := "/products/" + n
		if !validName("/products/{}", n) {
			r.skipGone(pp, "product "+n, rel, fmt.Sprintf("%q is not a valid Tollgate name", n))
			continue
		}
		// productInformation.json's properties are APIM's product
		// contract, whose fields Tollgate's product shares.
		prod := &resource.Product{}
		infoRel := filepath.Join(rel, "productInformation.json")
		if _, err := r.info(infoRel, prod); err != nil {
			r.skipGone(pp, "product "+n, rel, err.Error())
			continue
		}
		prod.Meta = resource.Meta{}
		if prod.SubscriptionRequired != nil && !*prod.SubscriptionRequired {
			prod.ApprovalRequired = nil // APIM ignores it then; Tollgate refuses it
			prod.SubscriptionsLimit = nil
		}
		r.add(pp, infoRel, prod)
		if err := r.policy(filepath.Join(rel, "policy.xml"), "/products/"+n+"/policies/policy"); err != nil {
			return err
		}
		// Older extractors list the product's APIs in apis.json; newer
		// ones write apis/{api}/productApiInformation.json.
		type link struct{ api, src string }
		var apis []link
		if data, err := r.read(filepath.Join(rel, "apis.json")); err == nil {
			var list []struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(data, &list); err != nil {
				r.skip(filepath.Join(rel, "apis.json"), "not a JSON array of {\"name\": ...}: "+err.Error())
			}
			for _, a := range list {
				apis = append(apis, link{a.Name, filepath.Join(rel, "apis.json")})
			}
		}
		if sub, err := os.ReadDir(filepath.Join(r.root, rel, "apis")); err == nil {
			for _, e := range sub {
				if e.IsDir() {
					apis = append(apis, link{e.Name(), filepath.Join(rel, "apis", e.Name())})
				}
			}
		}
		for _, l := range apis {
			if !validName("/products/x/apis/{}", l.api) {
				r.skip(l.src, fmt.Sprintf("API %q is not a valid Tollgate name", l.api))
				continue
			}
			r.add(pp+"/apis/"+l.api, l.src, &resource.ProductAPI{}, "/apis/"+l.api)
		}
		for _, sub := range []string{"groups.json", "groups", "tags.json", "tags"} {
			if _, err := os.Stat(filepath.Join(r.root, rel, sub)); err == nil {
				r.skip(filepath.Join(rel, sub), "product groups and tags are not imported")
			}
		}
	}
	return nil
}

// localPath turns an ARM resource ID (or an APIM-relative path) into the
// Tollgate path: ".../service/x/products/starter" -> "/products/starter".
func localPath(id string) string {
	if i := strings.Index(strings.ToLower(id), "/providers/microsoft.apimanagement/service/"); i >= 0 {
		rest := id[i+len("/providers/microsoft.apimanagement/service/"):]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			return rest[j:]
		}
		return "/"
	}
	return id
}

func (r *reader) subscriptions(context.Context) error {
	folder := r.folder["subscriptions"]
	names, err := r.subdirs(folder)
	if err != nil {
		return err
	}
	for _, n := range names {
		rel := filepath.Join(folder, n, "subscriptionInformation.json")
		var p struct {
			DisplayName  string `json:"displayName"`
			Scope        string `json:"scope"`
			OwnerID      string `json:"ownerId"`
			State        string `json:"state"`
			AllowTracing bool   `json:"allowTracing"`
		}
		if _, err := r.info(rel, &p); err != nil {
			r.skip(rel, err.Error())
			continue
		}
		if !validName("/subscriptions/{}", n) {
			r.skip(rel, fmt.Sprintf("%q is not a valid Tollgate name", n))
			continue
		}
		scope := localPath(p.Scope)
		if scope == "/" {
			scope = "/apis" // every API
		}
		// The extractor does not write users, so an owner would name a
		// user Tollgate does not have: the subscription is imported
		// without one.
		if owner := localPath(p.OwnerID); owner != "" && !strings.EqualFold(owner, "/users/1") {
			r.skip(rel, fmt.Sprintf("owner %s is not imported (the extractor does not write users); the subscription has no owner", owner))
		}
		var needs []string
		if strings.HasPrefix(scope, "/apis/") || strings.HasPrefix(scope, "/products/") {
			needs = append(needs, scope)
		}
		r.add("/subscriptions/"+n, rel, &resource.Subscription{DisplayName: p.DisplayName, Scope: scope, State: p.State, AllowTracing: p.AllowTracing}, needs...)
		r.keyNotes = append(r.keyNotes, keyNote{src: rel, name: n})
	}
	return nil
}

// webSocketAPI turns an APIM WebSocket API's contract into Tollgate's: the
// gateway passes the upgrade on for an API with the ws/wss protocols, to a
// serviceUrl in http(s) terms. It returns why the API cannot be imported.
func webSocketAPI(api *resource.API) string {
	u, err := url.Parse(api.ServiceURL)
	if err != nil || u.Host == "" {
		return fmt.Sprintf("websocket API: serviceUrl %q is not a ws:// or wss:// URL", api.ServiceURL)
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return fmt.Sprintf("websocket API: serviceUrl %q is not a ws:// or wss:// URL", api.ServiceURL)
	}
	api.ServiceURL = u.String()
	ws := false
	for _, p := range api.Protocols {
		ws = ws || strings.EqualFold(p, "ws") || strings.EqualFold(p, "wss")
	}
	if !ws {
		api.Protocols = append(api.Protocols, "wss")
	}
	return ""
}
