package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/openapi"
	"github.com/tollgate/tollgate/internal/resource"
)

const importUsage = `Usage: tollgate import openapi FILE|URL --api ID [--path P] [--service-url URL] [--delete-missing] [--dry-run]
       tollgate import apim DIR [--dry-run]

import openapi creates or updates the API ID and its operations from an
OpenAPI 3.0/3.1 or Swagger 2.0 document (JSON or YAML), and keeps the
document (GET /apis/ID?export=openapi returns it). --delete-missing also
deletes the API's operations the document no longer has.

import apim reads the folder Azure APIOps' extractor writes (apis, products,
named values, backends, policy fragments, ...), applies what maps to
Tollgate and reports what does not.`

// runImport dispatches the import verbs.
func runImport(ctx context.Context, args []string, env cliEnv) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		if len(args) == 0 {
			return usageErrorf("%s", importUsage)
		}
		return &usageError{msg: importUsage, help: true}
	}
	switch args[0] {
	case "openapi":
		return runImportOpenAPI(ctx, args[1:], env)
	case "apim":
		return runImportAPIM(ctx, args[1:], env)
	}
	return usageErrorf("unknown import source %q (openapi or apim)\n\n%s", args[0], importUsage)
}

func runImportOpenAPI(ctx context.Context, args []string, env cliEnv) error {
	fs := flag.NewFlagSet("import openapi", flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	apiID := fs.String("api", "", "the `id` of the API to create or update (required)")
	path := fs.String("path", "", "the API's URL `path` on the gateway (default: from the document's server URL, else the id)")
	serviceURL := fs.String("service-url", "", "the backend `URL` (default: the document's first absolute server URL)")
	deleteMissing := fs.Bool("delete-missing", false, "delete the API's operations that the document does not have")
	dryRun := fs.Bool("dry-run", false, "print what would change and change nothing")
	pos, err := parseFlags(fs, args, importUsage)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *apiID == "" {
		return usageErrorf("import openapi needs one FILE or URL and --api ID\n\n%s", importUsage)
	}
	if _, _, ok := resource.NewRegistry().Resolve("/apis/" + *apiID); !ok {
		return usageErrorf("--api %q is not a valid API id", *apiID)
	}
	data, err := readDocument(ctx, pos[0], env)
	if err != nil {
		return err
	}
	doc, err := openapi.Parse(ctx, data)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	imp, err := doc.Convert(*apiID, *path)
	if err != nil {
		return err
	}
	if *serviceURL != "" {
		imp.API.ServiceURL = *serviceURL
	}
	for _, s := range imp.Skipped {
		fmt.Fprintf(env.stderr, "not imported: %s\n", s)
	}
	c, err := connect(cf, env)
	if err != nil {
		return err
	}
	apiPath := "/apis/" + *apiID
	_, _, err = c.Get(ctx, apiPath)
	exists := err == nil
	if err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("read %s: %w", apiPath, err)
	}
	existing := map[string]bool{}
	if exists {
		ops, err := c.List(ctx, apiPath+"/operations", nil)
		if err != nil {
			return fmt.Errorf("list operations of %s: %w", apiPath, err)
		}
		for _, o := range ops {
			existing[strings.ToLower(itemName(o))] = true
		}
	}
	var created, updated int
	for _, o := range imp.Operations {
		if existing[strings.ToLower(o.Name)] {
			updated++
			delete(existing, strings.ToLower(o.Name))
		} else {
			created++
		}
	}
	verb := "create"
	if exists {
		verb = "update"
	}
	fmt.Fprintf(env.stdout, "%s %s (%s, path /%s); operations: %d to create, %d to update", verb, apiPath, imp.Spec.SourceFormat, imp.API.Path, created, updated)
	if *deleteMissing {
		fmt.Fprintf(env.stdout, ", %d to delete", len(existing))
	} else if len(existing) > 0 {
		fmt.Fprintf(env.stdout, "; %d not in the document are kept (--delete-missing deletes them)", len(existing))
	}
	fmt.Fprintln(env.stdout)
	if *dryRun {
		for _, o := range imp.Operations {
			fmt.Fprintf(env.stdout, "  %-7s %-40s %s\n", o.Method, o.URLTemplate, o.ID)
		}
		fmt.Fprintln(env.stdout, "dry run: nothing changed")
		return nil
	}
	if exists {
		patch := map[string]any{"displayName": imp.API.DisplayName, "description": imp.API.Description}
		if *serviceURL != "" {
			patch["serviceUrl"] = *serviceURL
		}
		if *path != "" {
			patch["path"] = *path
		}
		if _, err := c.Patch(ctx, apiPath, patch, ""); err != nil {
			return fmt.Errorf("update %s: %w", apiPath, err)
		}
	} else if _, _, err := c.Put(ctx, apiPath, imp.API, ""); err != nil {
		return fmt.Errorf("create %s: %w", apiPath, err)
	}
	for _, o := range imp.Operations {
		if _, _, err := c.Put(ctx, o.ID, o, ""); err != nil {
			return fmt.Errorf("put %s (%s %s): %w", o.ID, o.Method, o.URLTemplate, err)
		}
	}
	if *deleteMissing {
		for name := range existing {
			if err := c.Delete(ctx, apiPath+"/operations/"+name, nil); err != nil && !client.IsNotFound(err) {
				return fmt.Errorf("delete %s/operations/%s: %w", apiPath, name, err)
			}
		}
	}
	if _, _, err := c.Put(ctx, imp.Spec.ID, imp.Spec, ""); err != nil {
		return fmt.Errorf("keep the document at %s: %w", imp.Spec.ID, err)
	}
	fmt.Fprintf(env.stdout, "done; the document is kept at %s (GET %s?export=openapi)\n", imp.Spec.ID, apiPath)
	return nil
}

// readDocument reads a file, stdin ("-") or an http(s) URL, bounded.
func readDocument(ctx context.Context, src string, env cliEnv) ([]byte, error) {
	var r io.Reader
	switch {
	case src == "-":
		r = env.stdin
	case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
		if _, err := url.Parse(src); err != nil {
			return nil, usageErrorf("bad URL %q: %v", src, err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json, application/yaml;q=0.9, */*;q=0.5")
		resp, err := env.httpClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", src, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetch %s: %s", src, resp.Status)
		}
		r = resp.Body
	default:
		f, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, openapi.MaxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", src, err)
	}
	if len(data) > openapi.MaxDocument {
		return nil, fmt.Errorf("read %s: %w", src, errors.New("larger than 8 MiB"))
	}
	return data, nil
}
