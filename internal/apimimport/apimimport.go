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
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tollgate/tollgate/internal/openapi"
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
}

// Skipped is something in the tree that Tollgate does not import.
type Skipped struct {
	Source string // the file or folder, relative to the tree
	Why    string
}

// Plan is what an import would do, in apply order (parents and referenced
// resources first).
type Plan struct {
	Items   []Item
	Skipped []Skipped
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
	r := &reader{root: dir, plan: &Plan{}, folder: map[string]string{}}
	known := map[string]func(ctx context.Context) error{
		"namedValues":     r.namedValues,
		"policyFragments": r.policyFragments,
		"apis":            r.apis,
		"products":        r.products,
		"subscriptions":   r.subscriptions,
	}
	why := map[string]string{
		"backends":             "Tollgate has no backend entities: an API's serviceUrl (or set-backend-service base-url) names its backend",
		"loggers":              "Tollgate's loggers are its own log output and OpenTelemetry settings, not resources",
		"diagnostics":          "diagnostics settings have no Tollgate resource (Tollgate logs through its own settings)",
		"gateways":             "self-hosted gateway resources have no Tollgate counterpart: every Tollgate node is a gateway",
		"tags":                 "tags are not imported",
		"groups":               "groups are not imported: Tollgate users carry a role (administrator or developer)",
		"version sets":         "API version sets are not imported: import each version as its own API",
		"versionSets":          "API version sets are not imported: import each version as its own API",
		"apiVersionSets":       "API version sets are not imported: import each version as its own API",
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
	order := []string{"namedValues", "policyFragments", "apis", "products", "subscriptions"}
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
	}
	return name
}

type reader struct {
	root   string
	plan   *Plan
	folder map[string]string
}

func (r *reader) skip(src, why string) { r.plan.Skipped = append(r.plan.Skipped, Skipped{src, why}) }

func (r *reader) add(path, src string, body any) {
	r.plan.Items = append(r.plan.Items, Item{Path: path, Body: body, Source: src})
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
	r.add(path, rel, &resource.Policy{Format: "rawxml", Value: string(data)})
	return nil
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
		if _, err := r.info(rel, &p); err != nil {
			r.skip(rel, err.Error())
			continue
		}
		if !validName("/namedValues/{}", n) {
			r.skip(rel, fmt.Sprintf("%q is not a valid Tollgate name", n))
			continue
		}
		switch {
		case p.KeyVault != nil:
			r.skip(rel, "Key Vault references are not imported: create the named value with its value (tollgate apply)")
			continue
		case p.Value == nil:
			r.skip(rel, "the extractor does not write secret values: create the named value with its value (tollgate apply)")
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
		if !validName("/policyFragments/{}", n) {
			r.skip(rel, fmt.Sprintf("%q is not a valid Tollgate name", n))
			continue
		}
		var p struct {
			Description string `json:"description"`
		}
		if _, err := r.info(filepath.Join(rel, "policyFragmentInformation.json"), &p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.skip(rel, err.Error())
			continue
		}
		xml, err := r.read(filepath.Join(rel, "policy.xml"))
		if err != nil {
			r.skip(rel, "no policy.xml")
			continue
		}
		r.add("/policyFragments/"+n, filepath.Join(rel, "policy.xml"), &resource.PolicyFragment{Description: p.Description, Format: "rawxml", Value: string(xml)})
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
		if !validName("/apis/{}", n) {
			r.skip(rel, fmt.Sprintf("%q is not a valid Tollgate name", n))
			continue
		}
		// apiInformation.json's properties are APIM's API contract, whose
		// fields Tollgate's API shares; type says HTTP, SOAP, GraphQL, ...
		api := &resource.API{}
		infoRel := filepath.Join(rel, "apiInformation.json")
		if _, err := r.info(infoRel, api); err != nil {
			r.skip(rel, err.Error())
			continue
		}
		var kind struct {
			Type    string `json:"type"`
			APIType string `json:"apiType"`
		}
		if _, err := r.info(infoRel, &kind); err != nil {
			return err
		}
		if t := strings.ToLower(kind.Type + kind.APIType); t != "" && t != "http" {
			r.skip(rel, fmt.Sprintf("%s APIs are not supported (Tollgate imports HTTP APIs)", kind.Type+kind.APIType))
			continue
		}
		api.Meta = resource.Meta{}
		api.AuthenticationSettings = nil // names authorization servers this import does not bring
		api.BackendTimeout = 0
		r.add("/apis/"+n, infoRel, api)
		specRel := ""
		for _, f := range []string{"specification.yaml", "specification.yml", "specification.json"} {
			if _, err := os.Stat(filepath.Join(r.root, rel, f)); err == nil {
				specRel = filepath.Join(rel, f)
				break
			}
		}
		for _, f := range []string{"specification.wsdl", "specification.graphql"} {
			if _, err := os.Stat(filepath.Join(r.root, rel, f)); err == nil {
				r.skip(filepath.Join(rel, f), "only OpenAPI specifications are imported")
			}
		}
		if specRel != "" {
			data, err := r.read(specRel)
			if err != nil {
				return err
			}
			doc, err := openapi.Parse(ctx, data)
			if err != nil {
				r.skip(specRel, err.Error())
			} else {
				imp, err := doc.Convert(n, api.Path)
				if err != nil {
					return err
				}
				for _, o := range imp.Operations {
					r.add(o.ID, specRel, o)
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
		if !validName("/products/{}", n) {
			r.skip(rel, fmt.Sprintf("%q is not a valid Tollgate name", n))
			continue
		}
		// productInformation.json's properties are APIM's product
		// contract, whose fields Tollgate's product shares.
		prod := &resource.Product{}
		infoRel := filepath.Join(rel, "productInformation.json")
		if _, err := r.info(infoRel, prod); err != nil {
			r.skip(rel, err.Error())
			continue
		}
		prod.Meta = resource.Meta{}
		if prod.SubscriptionRequired != nil && !*prod.SubscriptionRequired {
			prod.ApprovalRequired = nil // APIM ignores it then; Tollgate refuses it
			prod.SubscriptionsLimit = nil
		}
		r.add("/products/"+n, infoRel, prod)
		if err := r.policy(filepath.Join(rel, "policy.xml"), "/products/"+n+"/policies/policy"); err != nil {
			return err
		}
		// Older extractors list the product's APIs in apis.json; newer
		// ones write apis/{api}/productApiInformation.json.
		var apis []string
		if data, err := r.read(filepath.Join(rel, "apis.json")); err == nil {
			var list []struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(data, &list); err != nil {
				r.skip(filepath.Join(rel, "apis.json"), "not a JSON array of {\"name\": ...}: "+err.Error())
			}
			for _, a := range list {
				apis = append(apis, a.Name)
			}
		}
		if sub, err := os.ReadDir(filepath.Join(r.root, rel, "apis")); err == nil {
			for _, e := range sub {
				if e.IsDir() {
					apis = append(apis, e.Name())
				}
			}
		}
		for _, a := range apis {
			if !validName("/products/x/apis/{}", a) {
				r.skip(filepath.Join(rel, "apis"), fmt.Sprintf("API %q is not a valid Tollgate name", a))
				continue
			}
			r.add("/products/"+n+"/apis/"+a, filepath.Join(rel, "apis"), &resource.ProductAPI{})
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
		r.add("/subscriptions/"+n, rel, &resource.Subscription{DisplayName: p.DisplayName, Scope: scope, State: p.State, AllowTracing: p.AllowTracing})
		r.skip(rel, "the extractor does not write subscription keys: Tollgate generates new ones (tollgate keys show subscription "+n+")")
	}
	return nil
}
