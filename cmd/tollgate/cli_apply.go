package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tollgate/tollgate/internal/client"
)

const applyUsage = `Usage: tollgate apply -f FILE|DIR|- [-f ...]

Each YAML or JSON document has "kind" (api, operation, product, ...), "id"
(the item's path, e.g. /apis/echo/operations/get, or just the name for
top-level kinds) and the resource's fields. Documents are applied parents
first; each prints created, updated or unchanged.`

// maxApplyInput bounds one input file (or stdin).
const maxApplyInput = 64 << 20

// applyDoc is one document of an apply input.
type applyDoc struct {
	source string // "file.yaml: document 2"
	kind   string
	id     string
	fields map[string]any // JSON-shaped (float64 numbers), without kind and id
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// runApply creates or updates the resources of the given files.
func runApply(ctx context.Context, args []string, env cliEnv) error {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	var files stringList
	fs.Var(&files, "f", "`file`, directory (its .yaml, .yml and .json files, recursively) or - for stdin; repeatable")
	pos, err := parseFlags(fs, args, applyUsage)
	if err != nil {
		return err
	}
	if len(pos) > 0 || len(files) == 0 {
		return usageErrorf("%s", applyUsage)
	}
	docs, err := readApplyInputs(files, env.stdin)
	if err != nil {
		return err
	}
	c, err := connect(cf, env)
	if err != nil {
		return err
	}
	ks, err := loadKinds(ctx, c)
	if err != nil {
		return err
	}
	return applyDocs(ctx, c, ks, docs, env.stdout, env.stderr)
}

// resolvedDoc is a document with its kind and path known.
type resolvedDoc struct {
	applyDoc
	kind  client.Kind
	path  string
	order int
}

func applyDocs(ctx context.Context, c *client.Client, ks kindSet, docs []applyDoc, stdout, stderr io.Writer) error {
	failed := 0
	var todo []resolvedDoc
	for _, d := range docs {
		rd, err := resolveDoc(ks, d)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", d.source, err)
			failed++
			continue
		}
		todo = append(todo, rd)
	}
	// Parents before children, whatever order the files have.
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].order < todo[j].order })
	for _, d := range todo {
		result, err := applyOne(ctx, c, d)
		if err != nil {
			fmt.Fprintf(stderr, "%s (%s): %v\n", d.source, label(d.kind, d.path), err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "%s %s\n", label(d.kind, d.path), result)
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "%d of %d documents failed\n", failed, len(docs))
		return errReported
	}
	return nil
}

func resolveDoc(ks kindSet, d applyDoc) (resolvedDoc, error) {
	if d.kind == "" {
		return resolvedDoc{}, errors.New(`missing "kind"`)
	}
	if d.id == "" {
		return resolvedDoc{}, errors.New(`missing "id"`)
	}
	cands := ks.match(d.kind)
	if len(cands) == 0 {
		return resolvedDoc{}, fmt.Errorf("unknown kind %q; known kinds: %s", d.kind, ks.names())
	}
	t, err := resolveTarget(cands, d.id, true)
	if err != nil {
		return resolvedDoc{}, fmt.Errorf("kind %s: %v", d.kind, err)
	}
	// A document may repeat its name; it must agree with the id.
	if n, ok := d.fields["name"]; ok {
		if s, _ := n.(string); s != t.item[strings.LastIndexByte(t.item, '/')+1:] {
			return resolvedDoc{}, fmt.Errorf("name %v does not match id %s", n, t.item)
		}
		delete(d.fields, "name")
	}
	// Read-only fields are the server's to set: a document copied from
	// `get -o yaml` may carry them, and they are not what apply manages.
	for _, ro := range t.kind.ReadOnly {
		deletePath(d.fields, strings.Split(ro, "."))
	}
	return resolvedDoc{applyDoc: d, kind: t.kind, path: t.item, order: ks.index(t.kind.Name)}, nil
}

// applyOne makes the server's resource agree with the document: created
// when absent, unchanged when every stated field already has the stated
// value, updated (merged, with If-Match) otherwise. Fields the document
// leaves out are left as they are.
func applyOne(ctx context.Context, c *client.Client, d resolvedDoc) (string, error) {
	cur, etag, err := c.Get(ctx, d.path)
	if client.IsNotFound(err) {
		if _, _, err := c.Put(ctx, d.path, d.fields, ""); err != nil {
			return "", err
		}
		return "created", nil
	}
	if err != nil {
		return "", err
	}
	same, err := sameFields(ctx, c, d, cur)
	if err != nil {
		return "", err
	}
	if same {
		return "unchanged", nil
	}
	if _, err := c.Patch(ctx, d.path, d.fields, etag); err != nil {
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusMethodNotAllowed {
			return "", err
		}
		// No PATCH for this kind: replace with the current fields merged
		// with the document's.
		merged := map[string]any{}
		for k, v := range cur {
			if !slices.Contains(d.kind.ReadOnly, k) && k != "id" && k != "name" {
				merged[k] = v
			}
		}
		mergeInto(merged, d.fields)
		if _, _, err := c.Put(ctx, d.path, merged, etag); err != nil {
			return "", err
		}
	}
	return "updated", nil
}

// sameFields compares the document's fields with the server's: objects by
// the keys the document states, everything else exactly. Secret fields,
// which GET leaves out, are compared with listSecrets' answer.
func sameFields(ctx context.Context, c *client.Client, d resolvedDoc, cur client.Object) (bool, error) {
	var secrets client.Object
	for k, want := range d.fields {
		have, present := cur[k]
		if slices.Contains(d.kind.Secrets, k) && !present {
			if secrets == nil {
				s, err := c.Post(ctx, d.path, "listSecrets", nil)
				if err != nil {
					return false, fmt.Errorf("listSecrets: %w", err)
				}
				if s == nil {
					s = client.Object{}
				}
				secrets = s
			}
			ws, ok1 := want.(string)
			hs, ok2 := secrets[k].(string)
			if !ok1 || !ok2 || subtle.ConstantTimeCompare([]byte(ws), []byte(hs)) != 1 {
				return false, nil
			}
			continue
		}
		if !subsetEqual(want, have) {
			return false, nil
		}
	}
	return true, nil
}

// subsetEqual reports whether have agrees with want: for objects, on every
// key want states; for arrays, item by item; otherwise by equality. The server leaves empty fields
// out, so an absent value matches a stated null, "", false, 0, [] or {}.
func subsetEqual(want, have any) bool {
	if have == nil {
		return isZero(want)
	}
	if wm, ok := want.(map[string]any); ok {
		hm, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range wm {
			if !subsetEqual(wv, hm[k]) {
				return false
			}
		}
		return true
	}
	// Arrays compare item by item, so that fields the server fills in an
	// item (an app role's generated id) do not count as a change.
	if wa, ok := want.([]any); ok {
		ha, ok := have.([]any)
		if !ok || len(wa) != len(ha) {
			return false
		}
		for i := range wa {
			if !subsetEqual(wa[i], ha[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want, have)
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		for _, e := range x {
			if !isZero(e) {
				return false
			}
		}
		return true
	}
	return false
}

// mergeInto applies src over dst as a JSON merge patch would.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// readApplyInputs reads every document of the given files, directories
// (recursively, .yaml/.yml/.json, in name order) and "-" (stdin).
func readApplyInputs(paths []string, stdin io.Reader) ([]applyDoc, error) {
	var docs []applyDoc
	for _, p := range paths {
		if p == "-" {
			data, err := readBounded(stdin, "stdin")
			if err != nil {
				return nil, err
			}
			d, err := parseDocuments("stdin", data)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		var files []string
		if st.IsDir() {
			err := filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				// Skip hidden files and directories (.git, editor files).
				if path != p && strings.HasPrefix(e.Name(), ".") {
					if e.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				switch strings.ToLower(filepath.Ext(path)) {
				case ".yaml", ".yml", ".json":
					if !e.IsDir() {
						files = append(files, path)
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			sort.Strings(files)
		} else {
			files = []string{p}
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return nil, err
			}
			data, err := readBounded(fh, f)
			fh.Close()
			if err != nil {
				return nil, err
			}
			d, err := parseDocuments(f, data)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
		}
	}
	return docs, nil
}

func readBounded(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxApplyInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxApplyInput {
		return nil, fmt.Errorf("read %s: larger than %d bytes", name, maxApplyInput)
	}
	return data, nil
}

// parseDocuments reads the documents of one input: a JSON object or array
// of objects, or YAML documents separated by "---". Empty YAML documents
// are skipped but counted, so numbers match what an editor shows.
func parseDocuments(name string, data []byte) ([]applyDoc, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, nil
	}
	var raws []any
	if trimmed[0] == '{' || trimmed[0] == '[' {
		var v any
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s: extra data after the JSON value", name)
		}
		if arr, ok := v.([]any); ok {
			raws = arr
		} else {
			raws = []any{v}
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for n := 1; ; n++ {
			var v any
			err := dec.Decode(&v)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", name, n, err)
			}
			raws = append(raws, v)
		}
	}
	var docs []applyDoc
	for i, raw := range raws {
		src := fmt.Sprintf("%s: document %d", name, i+1)
		if raw == nil {
			continue
		}
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: must be a mapping with kind, id and fields", src)
		}
		// Round-trip through JSON so YAML's ints and JSON's floats compare
		// alike, and values YAML allows but JSON does not are refused here.
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		var fields map[string]any
		if err := json.Unmarshal(b, &fields); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		d := applyDoc{source: src, fields: fields}
		for _, k := range []string{"kind", "id"} {
			v, ok := fields[k]
			if !ok {
				continue
			}
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%s: %q must be a string", src, k)
			}
			if k == "kind" {
				d.kind = s
			} else {
				d.id = s
			}
			delete(fields, k)
		}
		docs = append(docs, d)
	}
	return docs, nil
}
