package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tollgate/tollgate/internal/client"
)

const exportUsage = `Usage: tollgate export [--include-secrets] [-o FILE]

Prints every resource as multi-document YAML that tollgate apply accepts, in
kind order (parents first) then by id. Read-only fields are left out, and
secrets too unless --include-secrets.`

// runExport prints every resource as apply documents.
func runExport(ctx context.Context, args []string, env cliEnv) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	withSecrets := fs.Bool("include-secrets", false, "include secret fields (subscription keys, secret named values, ...)")
	out := fs.String("o", "", "write to `file` instead of standard output (mode 0600 with --include-secrets)")
	pos, err := parseFlags(fs, args, exportUsage)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("%s", exportUsage)
	}
	c, err := connect(cf, env)
	if err != nil {
		return err
	}
	ks, err := loadKinds(ctx, c)
	if err != nil {
		return err
	}
	data, err := exportYAML(ctx, c, ks, *withSecrets)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = env.stdout.Write(data)
		return err
	}
	mode := os.FileMode(0o644)
	if *withSecrets {
		mode = 0o600
	}
	if err := os.WriteFile(*out, data, mode); err != nil {
		return err
	}
	// WriteFile keeps an existing file's mode; secrets must not stay readable.
	return os.Chmod(*out, mode)
}

// exportYAML renders every resource of every kind.
func exportYAML(ctx context.Context, c *client.Client, ks kindSet, withSecrets bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	l := newLister(c)
	n := 0
	// Directory registrations that products with OAuth access and client
	// applications make and remove themselves are theirs: another
	// installation makes its own. Their kinds come first (parents first).
	managed := map[string]bool{}
	for _, k := range ks.kinds {
		if k.ApplyKind == "" {
			continue // not apply-able: nothing to export it as
		}
		items, err := l.all(ctx, k)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			id := objectID(it)
			if slices.Contains(k.BuiltIn, id) || managedRegistration(k, it, managed) {
				continue
			}
			fields := exportFields(k, it)
			if withSecrets && len(k.Secrets) > 0 {
				s, err := c.Post(ctx, id, "listSecrets", nil)
				if err != nil {
					return nil, fmt.Errorf("listSecrets %s: %w", id, err)
				}
				for _, name := range k.Secrets {
					if v, ok := s[name]; ok && v != nil && v != "" {
						fields[name] = v
					}
				}
			}
			doc, err := docNode(k.ApplyKind, id, fields)
			if err != nil {
				return nil, err
			}
			if err := enc.Encode(doc); err != nil {
				return nil, fmt.Errorf("encode %s: %w", id, err)
			}
			n++
		}
	}
	if n == 0 {
		return nil, nil // yaml's encoder refuses to close an empty stream
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// exportFields is an item without id, name and read-only fields. A
// read-only entry may be a dotted path ("application.applicationId").
func exportFields(k client.Kind, it client.Object) map[string]any {
	fields := map[string]any{}
	for key, v := range it {
		if key != "id" && key != "name" {
			fields[key] = v
		}
	}
	for _, ro := range k.ReadOnly {
		deletePath(fields, strings.Split(ro, "."))
	}
	return fields
}

func deletePath(m map[string]any, path []string) {
	if len(path) == 1 {
		delete(m, path[0])
		return
	}
	sub, ok := m[path[0]].(map[string]any)
	if !ok {
		return
	}
	deletePath(sub, path[1:])
	if len(sub) == 0 {
		delete(m, path[0])
	}
}

// docNode builds a document with kind and id first, then the fields by
// name, so the output is stable and reads well.
func docNode(kind, id string, fields map[string]any) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, v any) error {
		var vn yaml.Node
		if err := vn.Encode(v); err != nil {
			return err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &vn)
		return nil
	}
	_ = add("kind", kind)
	_ = add("id", id)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := add(k, fields[k]); err != nil {
			return nil, fmt.Errorf("encode %s field %s: %w", id, k, err)
		}
	}
	return n, nil
}

// managedRegistration notes the directory registrations products and client
// applications hold, and reports whether it is one.
func managedRegistration(k client.Kind, it client.Object, managed map[string]bool) bool {
	switch k.Name {
	case "products":
		if app, ok := it["application"].(map[string]any); ok {
			if id, ok := app["applicationId"].(string); ok {
				managed[strings.ToLower(id)] = true
			}
		}
	case "clientApplications":
		if id, ok := it["applicationId"].(string); ok {
			managed[strings.ToLower(id)] = true
		}
	case "directory/applications":
		id, _ := it["appId"].(string)
		return managed[strings.ToLower(id)]
	}
	return false
}
