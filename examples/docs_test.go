package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The shell commands of the documentation run too, as the examples' do: a
// page's ```sh blocks, in order, as one bash script against a fresh
// `tollgate serve` in a temporary directory. ```console and ```text blocks
// are for reading. Files a page's commands name (orders.yaml, an OpenAPI
// document, an APIOps tree) are made by the test from the page itself or from
// the repository's fixtures, as a reader would have them.
//
// Every page of docs/ with a ```sh block is run; nothing has to list it. A
// block that cannot run here says so in its info string, with the reason:
// ```sh norun needs an Azure subscription (az login)
// Such a block is still shown as shell; the test only checks that it gives a
// reason. Any other word after "sh" is refused (a mistyped marker would
// otherwise run, or hide, a block by accident).
type docPage struct {
	file string
	// sections limits the run to these level-2 sections (all when nil).
	sections []string
	// files are made in the working directory before the script runs.
	files func(t *testing.T, root, page string, dir string)
}

// docPages are the pages that need more than their own text; every other
// docs/*.md page runs as it is.
var docPages = []docPage{
	{file: "README.md", sections: []string{"Quick start"}},
	{file: "docs/cli.md", files: cliFiles},
}

func TestDocs(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the documentation's commands need %s, which is not installed (.ci/run installs it)", tool)
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	pages := append([]docPage(nil), docPages...)
	known := map[string]bool{}
	for _, p := range pages {
		known[p.file] = true
	}
	others, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range others {
		rel := filepath.ToSlash(strings.TrimPrefix(path, root+string(filepath.Separator)))
		if !known[rel] {
			pages = append(pages, docPage{file: rel})
		}
	}
	bin := buildTollgate(t, root)
	for _, p := range pages {
		t.Run(p.file, func(t *testing.T) {
			t.Parallel()
			text, err := os.ReadFile(filepath.Join(root, p.file))
			if err != nil {
				t.Fatal(err)
			}
			sc := newScript()
			// The pages' curl commands print what they get, for the reader;
			// here an HTTP error answer fails the step, so a page whose
			// request the server refuses cannot pass.
			sc.add(`curl() { command curl --fail-with-body "$@" || return; }`, 0)
			run, shown := 0, 0
			for _, sec := range parseReadme(string(text)) {
				for _, b := range sec.blocks {
					shown++
					switch {
					case b.info != "":
						t.Errorf("%s:%d: ```sh %s: only `sh norun REASON` may follow sh", p.file, b.line-1, b.info)
					case b.norun == "-":
						t.Errorf("%s:%d: ```sh norun without a reason: say what the block needs that the test has not", p.file, b.line-1)
					}
				}
				if p.sections != nil && !contains(p.sections, sec.title) {
					continue
				}
				sc.addSection(sec)
				for _, b := range sec.blocks {
					if b.norun == "" {
						run++
					}
				}
			}
			if run == 0 {
				if p.sections != nil || p.files != nil {
					t.Fatalf("%s has no sh block to run", p.file)
				}
				if shown > 0 {
					t.Logf("%s: every sh block is marked norun", p.file)
				}
				return
			}
			dir := t.TempDir()
			if p.files != nil {
				p.files(t, root, string(text), dir)
			}
			runScript(t, bin, dir, p.file, sc)
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// cliFiles makes what docs/cli.md's commands read: its sample documents
// (the first ```yaml block) as orders.yaml, split into apis.yaml and
// products.yaml, and in config/; the Petstore document; the APIOps tree.
func cliFiles(t *testing.T, root, page, dir string) {
	t.Helper()
	i := strings.Index(page, "```yaml\n")
	if i < 0 {
		t.Fatal("docs/cli.md has no ```yaml block")
	}
	body := page[i+len("```yaml\n"):]
	body = body[:strings.Index(body, "```")]
	var apis, products []string
	for _, doc := range strings.Split(body, "---\n") {
		switch {
		case strings.HasPrefix(doc, "kind: api\n"), strings.HasPrefix(doc, "kind: operation\n"), strings.HasPrefix(doc, "kind: policy\n"):
			apis = append(apis, doc)
		case strings.HasPrefix(doc, "kind: product\n"), strings.HasPrefix(doc, "kind: productApi\n"):
			products = append(products, doc)
		}
	}
	write(t, filepath.Join(dir, "orders.yaml"), body)
	write(t, filepath.Join(dir, "config", "orders.yaml"), body)
	write(t, filepath.Join(dir, "apis.yaml"), strings.Join(apis, "---\n"))
	write(t, filepath.Join(dir, "products.yaml"), strings.Join(products, "---\n"))
	copyTree(t, filepath.Join(root, "internal/openapi/testdata/petstore-3.0.yaml"), filepath.Join(dir, "petstore.yaml"))
	copyTree(t, filepath.Join(root, "internal/apimimport/testdata/artifacts"), filepath.Join(dir, "artifacts"))
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		write(t, filepath.Join(to, rel), string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
