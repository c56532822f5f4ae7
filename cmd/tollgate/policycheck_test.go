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
	write := func(name, text string) string { return writeTestFile(t, dir, name, text) }
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

// A validate-jwt or validate-azure-ad-token that checks neither the
// audience nor any claim accepts ID tokens as access tokens: policy check
// warns (exit status unchanged), and stays quiet once one is given.
func TestPolicyCheckTokenTypeWarning(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string { return writeTestFile(t, dir, name, text) }
	jwt := write("jwt.xml", "<policies>\n  <inbound>\n    <validate-jwt header-name=\"Authorization\">\n      <openid-config url=\"https://login.example.com/.well-known/openid-configuration\"/>\n    </validate-jwt>\n  </inbound>\n</policies>")
	aad := write("aad.xml", "<policies>\n  <inbound>\n    <validate-azure-ad-token tenant-id=\"contoso.onmicrosoft.com\"/>\n  </inbound>\n</policies>")
	jwtAud := write("jwt-aud.xml", `<policies><inbound><validate-jwt header-name="Authorization"><openid-config url="https://login.example.com/.well-known/openid-configuration"/><audiences><audience>api://orders</audience></audiences></validate-jwt></inbound></policies>`)
	jwtClaim := write("jwt-claim.xml", `<policies><inbound><validate-jwt header-name="Authorization"><openid-config url="https://login.example.com/.well-known/openid-configuration"/><required-claims><claim name="scp" match="any"><value>Orders.Read</value></claim></required-claims></validate-jwt></inbound></policies>`)
	aadBackend := write("aad-backend.xml", `<policies><inbound><validate-azure-ad-token tenant-id="contoso.onmicrosoft.com"><backend-application-ids><application-id>2b3f0f0e-6a53-4a43-9d5e-0c2a4f5b1c11</application-id></backend-application-ids></validate-azure-ad-token></inbound></policies>`)

	var out, errb bytes.Buffer
	code := runPolicy([]string{"check", jwt, aad}, &out, &errb)
	if code != 0 {
		t.Errorf("warnings changed the exit status: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), jwt+":3:5: warning: validate-jwt: neither <audiences> nor <required-claims>") ||
		!strings.Contains(out.String(), aad+":3:5: warning: validate-azure-ad-token: neither <audiences> nor <required-claims>") {
		t.Errorf("no token-type warning:\n%s", out.String())
	}
	out.Reset()
	if code := runPolicy([]string{"check", jwtAud, jwtClaim, aadBackend}, &out, &errb); code != 0 || out.String() != "" {
		t.Errorf("documents with an audience or a claim: %d %q", code, out.String())
	}
}

// A tenant-id from a named value is a tenant offline: the keys come from
// the tenant once the named value is known (a fragment, as published
// documents write it).
func TestPolicyCheckTenantFromNamedValue(t *testing.T) {
	f := writeTestFile(t, t.TempDir(), "frag.xml", `<fragment><validate-azure-ad-token tenant-id="{{TenantId}}" token-value="@((string)context.Variables[&quot;t&quot;])"><audiences><audience>{{ClientId}}</audience></audiences></validate-azure-ad-token></fragment>`)
	var out, errb bytes.Buffer
	if code := runPolicy([]string{"check", f}, &out, &errb); code != 0 || out.String() != "" || errb.String() != "" {
		t.Errorf("exit %d: %s%s", code, out.String(), errb.String())
	}
}

func writeTestFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Offline, a signing key named by certificate-id cannot be read: policy
// check accepts it (the server reads the certificate when the policy is
// saved), and an <audience> may be an expression.
func TestPolicyCheckCertificateKeyAndAudienceExpression(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string { return writeTestFile(t, dir, name, text) }
	cert := write("cert.xml", `<policies><inbound><validate-jwt header-name="Authorization" require-scheme="Bearer"><issuer-signing-keys><key certificate-id="my-rsa-cert" /></issuer-signing-keys><audiences><audience>@(context.Request.OriginalUrl.Host)</audience></audiences></validate-jwt></inbound></policies>`)
	aad := write("aad.xml", `<policies><inbound><validate-azure-ad-token tenant-id="contoso.onmicrosoft.com"><audiences><audience>@(context.Variables.GetValueOrDefault<string>("aud"))</audience><audience>api://orders</audience></audiences></validate-azure-ad-token></inbound></policies>`)
	var out, errb bytes.Buffer
	if code := runPolicy([]string{"check", cert, aad}, &out, &errb); code != 0 || out.String() != "" {
		t.Errorf("certificate-id key, audience expression: %d %q %q", code, out.String(), errb.String())
	}
	both := write("both.xml", "<policies>\n  <inbound>\n    <validate-jwt header-name=\"Authorization\">\n      <issuer-signing-keys>\n        <key certificate-id=\"my-rsa-cert\" n=\"x\" />\n      </issuer-signing-keys>\n    </validate-jwt>\n  </inbound>\n</policies>")
	out.Reset()
	code := runPolicy([]string{"check", both}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), both+":5:9: validate-jwt: <key>: give a certificate-id, n and e, or a base64 key, not several") {
		t.Errorf("certificate-id beside n: %d\n%s", code, out.String())
	}
}
