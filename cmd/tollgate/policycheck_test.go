package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.xml", `<policies>
  <inbound>
    <base />
    <choose>
      <when condition="@(context.Request.Headers.GetValueOrDefault("X-A", "") == "1" && true)">
        <rate-limit-by-key calls="{{calls}}" renewal-period="60" counter-key="@(context.Request.IpAddress)" />
      </when>
    </choose>
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>`)
	bad := write("bad.xml", "<policies>\n  <inbound>\n    <xsl-transform/>\n    <set-header name=\"a\" exists-action=\"maybe\"/>\n  </inbound>\n  <outbound><quota calls=\"1\" renewal-period=\"60\"/></outbound>\n</policies>")
	frag := write("frag.xml", `<fragment><set-header name="X" exists-action="override"><value>1</value></set-header></fragment>`)
	nv := write("nv.yaml", "calls: ten\n")

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runPolicy(args, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, errs := run("check", good, frag); code != 0 || out != "" {
		t.Errorf("good: %d %q %q", code, out, errs)
	}
	code, out, _ := run("check", good, bad)
	want := bad + ":3:5: policy 'xsl-transform' is not supported\n" +
		bad + ":4:41: set-header: attribute 'exists-action' must be one of override, skip, append, delete\n" +
		bad + ":6:13: policy 'quota' is not allowed in <outbound> (allowed in: inbound)\n"
	if code != 1 || out != want {
		t.Errorf("bad: %d\n%s\nwant\n%s", code, out, want)
	}
	code, out, _ = run("check", "--named-values", nv, good)
	if code != 1 || !strings.Contains(out, "good.xml:6:") || !strings.Contains(out, "attribute 'calls' must be an integer") {
		t.Errorf("named values: %d %q", code, out)
	}
	if code, _, errs := run("check", filepath.Join(dir, "missing.xml")); code != 1 || !strings.Contains(errs, "missing.xml") {
		t.Errorf("missing file: %d %q", code, errs)
	}
	if code, _, _ := run("check"); code != 2 {
		t.Errorf("no files: %d", code)
	}
}
