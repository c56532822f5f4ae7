package apimimport

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
)

// apimBackend is APIM's backend contract (backendInformation.json's
// properties), as far as Tollgate maps it.
type apimBackend struct {
	Title          string                          `json:"title"`
	Description    string                          `json:"description"`
	URL            string                          `json:"url"`
	Protocol       string                          `json:"protocol"`
	Type           string                          `json:"type"`
	Credentials    *apimBackendCredentials         `json:"credentials"`
	TLS            *resource.BackendTLS            `json:"tls"`
	CircuitBreaker *resource.BackendCircuitBreaker `json:"circuitBreaker"`
	Pool           *struct {
		Services []resource.BackendPoolMember `json:"services"`
	} `json:"pool"`
	Properties *struct {
		ServiceFabricCluster json.RawMessage `json:"serviceFabricCluster"`
	} `json:"properties"`
}

type apimBackendCredentials struct {
	Header         map[string][]string            `json:"header"`
	Query          map[string][]string            `json:"query"`
	Authorization  *resource.BackendAuthorization `json:"authorization"`
	Certificate    []string                       `json:"certificate"`
	CertificateIDs []string                       `json:"certificateIds"`
}

// backendFields are the backend contract's fields the import reads; the
// reasons say why the others are left out.
var backendFields = map[string]string{
	"title": "", "description": "", "url": "", "protocol": "", "type": "",
	"credentials": "", "tls": "", "circuitBreaker": "", "pool": "", "properties": "",
	"resourceId":        "resourceId (the Azure resource the backend stands for) is not imported: Tollgate calls the backend's url",
	"proxy":             "proxy is not imported: Tollgate backends do not go through an HTTP proxy",
	"azureRegion":       "azureRegion is not imported",
	"managedIdentity":   "managedIdentity is not imported: use authentication-managed-identity or backend credentials",
	"provisioningState": "",
}

// backends plans backends/{name}/backendInformation.json: APIM's backend
// entities, which set-backend-service backend-id routes to.
func (r *reader) backends(context.Context) error {
	folder := r.folder["backends"]
	names, err := r.subdirs(folder)
	if err != nil {
		return err
	}
	for _, n := range names {
		rel := filepath.Join(folder, n, "backendInformation.json")
		bp := "/backends/" + n
		gone := func(why string) { r.skipGone(bp, "backend "+n, rel, why) }
		if !validName("/backends/{}", n) {
			gone(fmt.Sprintf("%q is not a valid Tollgate name", n))
			continue
		}
		var raw map[string]json.RawMessage
		if _, err := r.info(rel, &raw); err != nil {
			gone(err.Error())
			continue
		}
		var p apimBackend
		if _, err := r.info(rel, &p); err != nil {
			gone(err.Error())
			continue
		}
		b, whyNot := r.backend(n, rel, raw, &p)
		if whyNot != "" {
			gone(whyNot)
			continue
		}
		r.add(bp, rel, b)
	}
	return nil
}

// backend maps one backend contract, reporting each part it leaves out; a
// non-empty whyNot leaves out the whole backend.
func (r *reader) backend(name, rel string, raw map[string]json.RawMessage, p *apimBackend) (b *resource.Backend, whyNot string) {
	var keys []string
	for k, v := range raw {
		if string(v) != "null" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		why, ok := backendFields[k]
		switch {
		case !ok:
			r.skip(rel, k+" is not imported: Tollgate backends have no such field")
		case why != "":
			r.skip(rel, why)
		}
	}
	if p.Properties != nil && len(p.Properties.ServiceFabricCluster) > 0 && string(p.Properties.ServiceFabricCluster) != "null" {
		return nil, "Service Fabric backends are not supported (Tollgate backends are http or https URLs)"
	}
	switch strings.ToLower(p.Protocol) {
	case "", "http":
	case "soap":
		return nil, "SOAP backends are not supported (Tollgate imports http backends)"
	default:
		return nil, fmt.Sprintf("protocol %q is not supported (Tollgate imports http backends)", p.Protocol)
	}
	b = &resource.Backend{Title: p.Title, Description: p.Description, URL: p.URL, Protocol: "http", Type: p.Type, TLS: p.TLS, CircuitBreaker: p.CircuitBreaker}
	if strings.EqualFold(b.Type, "pool") {
		b.Type = "Pool"
	} else if strings.EqualFold(b.Type, "single") || b.Type == "" {
		b.Type = "Single"
	} else {
		return nil, fmt.Sprintf("type %q is not supported (Tollgate backends are Single or Pool)", p.Type)
	}
	if b.Type == "Single" {
		if strings.Contains(p.URL, "{{") {
			return nil, fmt.Sprintf("url %q refers to a named value: Tollgate backends take a literal URL (create the backend with tollgate apply)", p.URL)
		}
		if p.Pool != nil && len(p.Pool.Services) > 0 {
			r.skip(rel, "pool is not imported: it is only used by backends of type Pool")
		}
	} else {
		if p.URL != "" {
			r.skip(rel, "url is not imported: a Pool backend routes to its members")
			b.URL = ""
		}
		if p.Pool == nil || len(p.Pool.Services) == 0 {
			return nil, "a Pool backend without pool.services has nothing to route to"
		}
		b.Pool = &resource.BackendPool{}
		for i, m := range p.Pool.Services {
			id := localPath(m.ID)
			if !strings.HasPrefix(id, "/") {
				id = "/backends/" + id
			}
			member := strings.TrimPrefix(id, "/backends/")
			if !strings.HasPrefix(id, "/backends/") || !validName("/backends/{}", member) {
				r.skip(rel, fmt.Sprintf("pool.services[%d]: %q does not name a backend; the member is left out", i, m.ID))
				continue
			}
			m.ID = id
			b.Pool.Services = append(b.Pool.Services, m)
		}
		if len(b.Pool.Services) == 0 {
			return nil, "none of the pool's members name a backend"
		}
	}
	if c := p.Credentials; c != nil {
		bc := &resource.BackendCredentials{Header: c.Header, Query: c.Query, Authorization: c.Authorization}
		if len(c.Certificate) > 0 {
			r.skip(rel, "credentials.certificate (certificate thumbprints) is not imported: Tollgate names certificates by id (credentials.certificateIds)")
		}
		for _, id := range c.CertificateIDs {
			cp := localPath(id)
			if !strings.HasPrefix(cp, "/") {
				cp = "/certificates/" + cp
			}
			if !strings.HasPrefix(cp, "/certificates/") || !validName("/certificates/{}", strings.TrimPrefix(cp, "/certificates/")) {
				r.skip(rel, fmt.Sprintf("credentials.certificateIds: %q does not name a certificate; it is left out", id))
				continue
			}
			bc.CertificateIDs = append(bc.CertificateIDs, strings.TrimPrefix(cp, "/certificates/"))
			r.warn(rel, fmt.Sprintf("credentials.certificateIds: the extractor does not write certificates: calls to backend %s fail until %s exists with its private key (tollgate apply)", name, cp), cp)
		}
		// Values may hold {{named value}} references: Tollgate resolves
		// them when it calls the backend, so a named value the import does
		// not write (a secret's value, or one not in the tree) must exist
		// by then.
		refs := map[string]bool{}
		note := func(v string) {
			for _, n := range policy.References(v).NamedValues {
				refs[n] = true
			}
		}
		for _, m := range []map[string][]string{c.Header, c.Query} {
			for _, vs := range m {
				for _, v := range vs {
					note(v)
				}
			}
		}
		if c.Authorization != nil {
			note(c.Authorization.Parameter)
		}
		for _, nv := range slices.Sorted(maps.Keys(refs)) {
			if r.planned("/namedValues/" + nv) {
				continue
			}
			r.warn(rel, fmt.Sprintf("credentials refer to {{%s}}, which this import does not write: calls to backend %s fail until named value %s exists (tollgate apply)", nv, name, nv), "/namedValues/"+nv)
		}
		if len(bc.Header) > 0 || len(bc.Query) > 0 || bc.Authorization != nil || len(bc.CertificateIDs) > 0 {
			b.Credentials = bc
		}
	}
	return b, r.checkBackend(name, rel, b)
}

// checkBackend validates b as the server will, leaving out (and
// reporting) the parts that are wrong when the rest stands.
func (r *reader) checkBackend(name, rel string, b *resource.Backend) (whyNot string) {
	for try := 0; try < 4; try++ {
		var c resource.Backend
		data, _ := json.Marshal(b)
		if err := json.Unmarshal(data, &c); err != nil {
			return err.Error()
		}
		c.ID = "/backends/" + name
		c.Normalize()
		errs := c.Validate()
		if len(errs) == 0 {
			return ""
		}
		var fatal []string
		dropMember := map[int]bool{}
		for _, e := range errs {
			t := e.Target
			switch {
			case strings.HasPrefix(t, "circuitBreaker"):
				if b.CircuitBreaker != nil {
					r.skip(rel, "circuitBreaker is not imported: "+e.Error())
					b.CircuitBreaker = nil
				}
			case strings.HasPrefix(t, "tls"):
				if b.TLS != nil {
					r.skip(rel, "tls is not imported: "+e.Error())
					b.TLS = nil
				}
			case strings.HasPrefix(t, "credentials.certificate"):
				if b.Credentials != nil && b.Credentials.CertificateIDs != nil {
					r.skip(rel, "credentials.certificateIds is not imported: "+e.Error())
					b.Credentials.CertificateIDs = nil
				}
			case strings.HasPrefix(t, "credentials.header"):
				if b.Credentials != nil && b.Credentials.Header != nil {
					r.skip(rel, "credentials.header is not imported: "+e.Error())
					b.Credentials.Header = nil
				}
			case strings.HasPrefix(t, "credentials.query"):
				if b.Credentials != nil && b.Credentials.Query != nil {
					r.skip(rel, "credentials.query is not imported: "+e.Error())
					b.Credentials.Query = nil
				}
			case strings.HasPrefix(t, "credentials.authorization"):
				if b.Credentials != nil && b.Credentials.Authorization != nil {
					r.skip(rel, "credentials.authorization is not imported: "+e.Error())
					b.Credentials.Authorization = nil
				}
			case strings.HasPrefix(t, "pool.services["):
				var i int
				if _, err := fmt.Sscanf(t, "pool.services[%d]", &i); err == nil && b.Pool != nil && i < len(b.Pool.Services) {
					if !dropMember[i] {
						r.skip(rel, fmt.Sprintf("pool.services[%d] (%s) is not imported: %s", i, b.Pool.Services[i].ID, e.Error()))
					}
					dropMember[i] = true
					continue
				}
				fatal = append(fatal, e.Error())
			default:
				fatal = append(fatal, e.Error())
			}
		}
		if len(fatal) > 0 {
			return strings.Join(fatal, "; ")
		}
		if len(dropMember) > 0 {
			var keep []resource.BackendPoolMember
			for i, m := range b.Pool.Services {
				if !dropMember[i] {
					keep = append(keep, m)
				}
			}
			b.Pool.Services = keep
		}
	}
	return "it does not validate"
}

// poolNeeds: a pool's members that are in the tree but not imported are
// left out of the pool (reported); a pool left with none is not imported.
func (r *reader) dropPoolMembers() {
	var kept []Item
	for _, it := range r.plan.Items {
		b, ok := it.Body.(*resource.Backend)
		if !ok || b.Pool == nil {
			kept = append(kept, it)
			continue
		}
		var keep []resource.BackendPoolMember
		for _, m := range b.Pool.Services {
			if what, ok := r.gone[m.ID]; ok {
				r.skip(it.Source, fmt.Sprintf("pool member %s is left out of the pool because %s was not imported", m.ID, what))
				continue
			}
			keep = append(keep, m)
		}
		if len(keep) == 0 {
			name := strings.TrimPrefix(it.Path, "/backends/")
			r.skipGone(it.Path, "backend "+name, it.Source, "none of the pool's members was imported")
			continue
		}
		b.Pool.Services = keep
		kept = append(kept, it)
	}
	r.plan.Items = kept
}

// versionSet is an API version set (version sets/{name}/versionSetInformation.json).
type versionSet struct {
	Scheme     string `json:"versioningScheme"`
	HeaderName string `json:"versionHeaderName"`
	QueryName  string `json:"versionQueryName"`
}

// versionSets reads the version sets, which say where each version of an
// API is served.
func (r *reader) versionSets(context.Context) error {
	folder := r.folder["versionSets"]
	names, err := r.subdirs(folder)
	if err != nil {
		return err
	}
	for _, n := range names {
		for _, f := range []string{"versionSetInformation.json", "apiVersionSetInformation.json"} {
			var vs versionSet
			if _, err := r.info(filepath.Join(folder, n, f), &vs); err == nil {
				r.sets[strings.ToLower(n)] = vs
				break
			}
		}
	}
	r.skip(folder+"/", "API version sets are not imported as resources: each version is imported as an API of its own (a Segment version at {path}/{version}, as APIM serves it)")
	return nil
}

// versionPath sets the path of an API that is a version of a version
// set to where APIM serves it; whyNot says why it cannot be imported.
func (r *reader) versionPath(api *resource.API, version, setID, src string) (whyNot string) {
	set := localPath(setID)
	name := set[strings.LastIndexByte(set, '/')+1:]
	vs, ok := r.sets[strings.ToLower(name)]
	if !ok {
		r.warn(src, fmt.Sprintf("version set %s is not in the tree: the API is served at its path %q, without its version %q", name, api.Path, version), "")
		return ""
	}
	if version == "" {
		return ""
	}
	switch strings.ToLower(vs.Scheme) {
	case "segment":
		api.Path = strings.Trim(api.Path, "/") + "/" + version
		return ""
	case "header":
		return fmt.Sprintf("version %s of version set %s is chosen by the header %s, which Tollgate does not route on: give it a path of its own (tollgate apply)", version, name, vs.HeaderName)
	case "query":
		return fmt.Sprintf("version %s of version set %s is chosen by the query parameter %s, which Tollgate does not route on: give it a path of its own (tollgate apply)", version, name, vs.QueryName)
	}
	return fmt.Sprintf("version set %s has versioning scheme %q, which Tollgate does not know", name, vs.Scheme)
}
