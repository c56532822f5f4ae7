package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/tollgate/tollgate/internal/client"
)

const getUsage = `Usage: tollgate get [KIND [ID]] [-o table|json|yaml]

Without KIND, lists the kinds there are.

KIND is a collection (apis, products, ...), an apply kind (api, product, ...)
or its plural. ID is an item name for top-level kinds, or the ids of a nested
item joined by "/" (echo/get) or its full path (/apis/echo/operations/get);
one id short of an item lists that parent's items (get operations echo).`

// runGet shows one resource or a list of them.
func runGet(ctx context.Context, args []string, env cliEnv) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	output := fs.String("o", "table", "output `format`: table, json or yaml")
	pos, err := parseFlags(fs, args, getUsage)
	if err != nil {
		return err
	}
	if len(pos) > 2 {
		return usageErrorf("%s", getUsage)
	}
	switch *output {
	case "table", "json", "yaml":
	default:
		return usageErrorf("-o must be table, json or yaml, got %q", *output)
	}
	c, err := connect(cf, env)
	if err != nil {
		return err
	}
	ks, err := loadKinds(ctx, c)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		// No kind: say which there are.
		return printKinds(env.stdout, *output, ks)
	}
	cands := ks.match(pos[0])
	if len(cands) == 0 {
		return usageErrorf("unknown kind %q; known kinds: %s", pos[0], ks.names())
	}
	id := ""
	if len(pos) == 2 {
		id = pos[1]
	}
	t, err := resolveTarget(cands, id, false)
	if err != nil {
		return usageErrorf("get %s: %v", pos[0], err)
	}

	if t.item != "" {
		obj, _, err := c.Get(ctx, t.item)
		if err != nil {
			return fmt.Errorf("get %s: %w", t.item, err)
		}
		return printObjects(env.stdout, *output, t.kind, []client.Object{withID(obj, t.item)}, true)
	}
	var items []client.Object
	if t.collection != "" {
		items, err = newLister(c).list(ctx, t.collection)
		if err != nil {
			return err
		}
		for _, it := range items {
			withID(it, t.collection+"/"+itemName(it))
		}
		return printObjects(env.stdout, *output, t.kind, items, false)
	}
	// No id: every item of every matching kind ("get policy" covers the
	// policies of every scope).
	l := newLister(c)
	for _, k := range cands {
		v, err := l.all(ctx, k)
		if err != nil {
			return err
		}
		items = append(items, v...)
	}
	return printObjects(env.stdout, *output, t.kind, items, false)
}

const deleteUsage = `Usage: tollgate delete KIND ID [--delete-subscriptions]

ID is as for get. --delete-subscriptions also deletes a product's
subscriptions (otherwise deleting a product that has some is refused).`

// runDelete removes one resource.
func runDelete(ctx context.Context, args []string, env cliEnv) error {
	fs := flag.NewFlagSet("delete", flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	delSubs := fs.Bool("delete-subscriptions", false, "also delete the product's subscriptions")
	pos, err := parseFlags(fs, args, deleteUsage)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageErrorf("%s", deleteUsage)
	}
	c, err := connect(cf, env)
	if err != nil {
		return err
	}
	ks, err := loadKinds(ctx, c)
	if err != nil {
		return err
	}
	cands := ks.match(pos[0])
	if len(cands) == 0 {
		return usageErrorf("unknown kind %q; known kinds: %s", pos[0], ks.names())
	}
	t, err := resolveTarget(cands, pos[1], true)
	if err != nil {
		return usageErrorf("delete %s: %v", pos[0], err)
	}
	var q url.Values
	if *delSubs {
		q = url.Values{"deleteSubscriptions": {"true"}}
	}
	if err := c.Delete(ctx, t.item, q); err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.Status == http.StatusConflict && strings.Contains(ce.Message, "deleteSubscriptions=true") {
			// The API's message names its query parameter; the CLI's
			// spelling is a flag.
			ce.Message = strings.Replace(ce.Message, "delete with ?deleteSubscriptions=true to delete them too", "add --delete-subscriptions to delete them too", 1)
		}
		return fmt.Errorf("delete %s: %w", label(t.kind, t.item), err)
	}
	fmt.Fprintf(env.stdout, "%s deleted\n", label(t.kind, t.item))
	return nil
}

// printObjects writes items as a table, JSON or YAML. single prints one
// object rather than a list.
func printObjects(w io.Writer, format string, k client.Kind, items []client.Object, single bool) error {
	switch format {
	case "json":
		var v any = items
		if single {
			v = items[0]
		} else if items == nil {
			v = []client.Object{}
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		var v any = items
		if single {
			v = items[0]
		} else if items == nil {
			v = []client.Object{}
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	}
	return printTable(w, k, items)
}

// tableColumns are the fields shown for the core kinds (by collection
// name, or by apply kind for the policies of every scope); other kinds get
// displayName and their first scalar fields.
func tableColumns(k client.Kind) ([]string, bool) {
	switch k.Name {
	case "apis":
		return []string{"displayName", "path", "serviceUrl"}, true
	case "apis/operations":
		return []string{"method", "urlTemplate", "displayName"}, true
	case "products":
		return []string{"displayName", "state", "subscriptionRequired", "approvalRequired", "authenticationType"}, true
	case "products/apis":
		return nil, true
	case "users":
		return []string{"email", "firstName", "lastName", "role", "state"}, true
	case "subscriptions":
		return []string{"displayName", "scope", "ownerId", "state"}, true
	case "clientApplications":
		return []string{"displayName", "ownerId", "state", "applicationId"}, true
	case "clientApplications/productLinks":
		return []string{"productId"}, true
	case "namedValues":
		return []string{"displayName", "secret", "value"}, true
	}
	if k.ApplyKind == "policy" {
		return []string{"format"}, true
	}
	return nil, false
}

const maxGenericColumns = 4

func printTable(w io.Writer, k client.Kind, items []client.Object) error {
	if len(items) == 0 {
		_, err := fmt.Fprintln(w, "No resources found.")
		return err
	}
	// Top-level items are named by their name; nested ones by their path,
	// which says whose they are.
	nameCol, nameOf := "NAME", itemName
	if !topLevel(k) {
		nameCol, nameOf = "ID", objectID
	}
	cols, known := tableColumns(k)
	if !known {
		cols = genericColumns(items[0])
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := []string{nameCol}
	for _, c := range cols {
		header = append(header, columnTitle(c))
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, o := range items {
		row := []string{nameOf(o)}
		for _, c := range cols {
			row = append(row, cell(o[c]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// genericColumns picks displayName and then the first scalar fields by name.
func genericColumns(o client.Object) []string {
	var cols []string
	if _, ok := o["displayName"]; ok {
		cols = append(cols, "displayName")
	}
	var keys []string
	for k, v := range o {
		switch v.(type) {
		case string, float64, bool:
			if k != "id" && k != "name" && k != "displayName" {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(cols) == maxGenericColumns {
			break
		}
		cols = append(cols, k)
	}
	return cols
}

// columnTitle turns "displayName" into "DISPLAY NAME", "serviceUrl" into
// "SERVICE URL".
func columnTitle(field string) string {
	var b strings.Builder
	for i, r := range field {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		// A cell is one line: tabs and newlines would break the table.
		return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(x)
	case []any:
		var parts []string
		for _, e := range x {
			parts = append(parts, cell(e))
		}
		return strings.Join(parts, ",")
	case float64, bool:
		return fmt.Sprint(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// printKinds lists the kinds `get` accepts.
func printKinds(w io.Writer, format string, ks kindSet) error {
	type row struct {
		Name      string `json:"name" yaml:"name"`
		ApplyKind string `json:"applyKind" yaml:"applyKind"`
		Pattern   string `json:"pattern" yaml:"pattern"`
	}
	var rows []row
	for _, k := range ks.kinds {
		rows = append(rows, row{k.Name, k.ApplyKind, k.Pattern})
	}
	switch format {
	case "json":
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		return yaml.NewEncoder(w).Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tAPPLY KIND\tPATH")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.ApplyKind, r.Pattern)
	}
	fmt.Fprintln(tw, "\ntollgate get KIND [ID] shows resources of a kind.")
	return tw.Flush()
}
