package identity_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestNodeOpenIDClient runs interop/interop.test.mjs with node against a
// provider: discovery, client credentials, authorization code + PKCE through
// the sign-in form, refresh, userinfo, introspection and revocation, judged
// by openid-client. It needs `npm ci` in interop/ first.
func TestNodeOpenIDClient(t *testing.T) {
	if _, err := os.Stat(filepath.Join("interop", "node_modules", "openid-client")); err != nil {
		t.Skip("interop/node_modules is missing: run npm ci in internal/identity/interop")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	e := newEnv(t)
	res, cc, ccSecret := e.seedClientCredentials()
	s := e.seedAuthCode()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test-reporter=spec", "interop.test.mjs")
	cmd.Dir = "interop"
	cmd.Env = append(os.Environ(),
		"TOLLGATE_ISSUER="+e.issuer,
		"TOLLGATE_CC_CLIENT_ID="+cc.AppID,
		"TOLLGATE_CC_CLIENT_SECRET="+ccSecret,
		"TOLLGATE_CC_SCOPE=api://"+res.AppID+"/.default",
		"TOLLGATE_RESOURCE_APP_ID="+res.AppID,
		"TOLLGATE_WEB_CLIENT_ID="+s.client.AppID,
		"TOLLGATE_WEB_CLIENT_SECRET="+s.secret,
		"TOLLGATE_REDIRECT_URI="+s.redirect,
		"TOLLGATE_API_SCOPE=api://"+s.backend.AppID+"/Colors.Read",
		"TOLLGATE_USER="+s.user,
		"TOLLGATE_PASSWORD="+s.password,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node interop.test.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("openid-client interop failed: %v", err)
	}
}
