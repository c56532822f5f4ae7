package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/tollgate/tollgate/internal/credential"
	"github.com/tollgate/tollgate/internal/jwtvalidate/jwtpolicy"
	"github.com/tollgate/tollgate/internal/policy"
)

const policyUsage = `Usage: tollgate policy check [--named-values FILE] FILE...

Checks APIM policy documents (<policies>) and fragments (<fragment>) offline,
as the management API does when they are saved: prints file:line:col: message
for each problem and exits 1 when any document is bad. Warnings (documents
that run but are probably not what was meant) are printed as
file:line:col: warning: message and do not change the exit status.

Named values ({{name}}) are treated as defined unless --named-values gives a
YAML or JSON map of name to value; fragments are not looked up.
`

// runPolicy dispatches `tollgate policy SUBVERB`.
func runPolicy(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check" {
		return runPolicyCheck(args[1:], stdout, stderr)
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, policyUsage)
		return 0
	}
	fmt.Fprint(stderr, policyUsage)
	return 2
}

// maxPolicyFile bounds what policy check reads of one file: a little over
// the largest document the engine accepts, so the size error is the
// engine's own.
const maxPolicyFile = policy.MaxDocumentSize + 1

// runPolicyCheck implements `tollgate policy check [--named-values FILE] FILE...`.
func runPolicyCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policy check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	nvFile := fs.String("named-values", "", "YAML or JSON map of named value names to values")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, policyUsage)
			return 0
		}
		fmt.Fprintf(stderr, "tollgate policy check: %v\n\n%s", err, policyUsage)
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	var named map[string]string
	if *nvFile != "" {
		var err error
		if named, err = readNamedValues(*nvFile); err != nil {
			fmt.Fprintf(stderr, "tollgate policy check: %v\n", err)
			return 1
		}
	}
	// validate-jwt is checked offline too: its keys are not fetched.
	c := policy.NewCompiler(policy.Options{Extensions: append(jwtpolicy.Extensions(jwtpolicy.Deps{}), credential.CheckExtensions()...)})
	bad := false
	for _, file := range fs.Args() {
		text, err := readPolicyFile(file, maxPolicyFile)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", file, err)
			bad = true
			continue
		}
		rep := c.CheckOfflineReport(text, named)
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "%s:%d:%d: %s\n", file, p.Line, p.Column, p.Message)
			bad = true
		}
		for _, p := range rep.Warnings {
			fmt.Fprintf(stdout, "%s:%d:%d: warning: %s\n", file, p.Line, p.Column, p.Message)
		}
	}
	if bad {
		return 1
	}
	return 0
}

func readPolicyFile(file string, limit int64) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// readNamedValues reads a YAML (or JSON) map of name to value; scalars of
// any type are taken as their text.
func readNamedValues(file string) (map[string]string, error) {
	text, err := readPolicyFile(file, 4<<20)
	if err != nil {
		return nil, fmt.Errorf("named values: %w", err)
	}
	var raw map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("named values %s: %w", file, err)
	}
	out := make(map[string]string, len(raw))
	for n, node := range raw {
		if node.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("named values %s: %q must be a string, number or boolean", file, n)
		}
		out[n] = node.Value
	}
	return out, nil
}
