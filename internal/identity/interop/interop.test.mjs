// Interoperability check of Tollgate's identity provider with openid-client
// (v6), a certified OpenID Connect relying party library we did not write.
// interop_test.go starts a provider and runs this file with `node`; the
// URLs and credentials come from the environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through interop_test.go)`);
  return v;
};
const issuer = new URL(env('TOLLGATE_ISSUER'));
const insecure = issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined;

test('discovery and client credentials', async () => {
  const config = await client.discovery(issuer, env('TOLLGATE_CC_CLIENT_ID'), env('TOLLGATE_CC_CLIENT_SECRET'), undefined, insecure);
  const md = config.serverMetadata();
  assert.equal(md.issuer, issuer.href);
  assert.ok(md.code_challenge_methods_supported.includes('S256'));

  const tokens = await client.clientCredentialsGrant(config, { scope: env('TOLLGATE_CC_SCOPE') });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.ok(tokens.expires_in > 0);
  const payload = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url'));
  assert.equal(payload.aud, env('TOLLGATE_RESOURCE_APP_ID'));
  assert.deepEqual(payload.roles, ['APIAccess']);
});

// cookieJar keeps the provider's cookies between fetches, as a browser.
function cookieJar() {
  const jar = new Map();
  return {
    store(res) {
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair.indexOf('=');
        jar.set(pair.slice(0, i), pair.slice(i + 1));
      }
    },
    header() {
      return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    },
  };
}

// submit posts the page's form (sign-in or consent) like a browser.
async function submit(base, html, jar, fields) {
  const action = html.match(/action="([^"]+)"/)[1];
  const form = new URLSearchParams({
    req: html.match(/name="req" value="([^"]+)"/)[1],
    csrf: html.match(/name="csrf" value="([^"]+)"/)[1],
    ...fields,
  });
  const res = await fetch(new URL(action, base), {
    method: 'POST', redirect: 'manual', body: form,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
  });
  jar.store(res);
  return res;
}

test('authorization code with PKCE through the sign-in form, refresh, userinfo, introspection, revocation', async () => {
  const config = await client.discovery(issuer, env('TOLLGATE_WEB_CLIENT_ID'), undefined,
    client.ClientSecretBasic(env('TOLLGATE_WEB_CLIENT_SECRET')), insecure);
  const redirectUri = env('TOLLGATE_REDIRECT_URI');
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: `openid profile email offline_access ${env('TOLLGATE_API_SCOPE')}`,
    code_challenge: codeChallenge, code_challenge_method: 'S256', state, nonce,
  });

  const jar = cookieJar();
  let res = await fetch(authUrl, { redirect: 'manual' });
  jar.store(res);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  let html = await res.text();
  res = await submit(authUrl, html, jar, { username: env('TOLLGATE_USER'), password: env('TOLLGATE_PASSWORD') });
  if (res.status === 200) { // the consent page
    html = await res.text();
    assert.match(html, /Colors\.Read/);
    res = await submit(authUrl, html, jar, { decision: 'accept' });
  }
  assert.equal(res.status, 303);
  const callback = new URL(res.headers.get('location'));
  assert.ok(callback.href.startsWith(redirectUri));

  // openid-client checks state, iss (RFC 9207), the ID token's signature,
  // issuer, audience and nonce.
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert.equal(claims.preferred_username, env('TOLLGATE_USER'));
  assert.ok(tokens.refresh_token);

  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(userinfo.sub, claims.sub);

  let info = await client.tokenIntrospection(config, tokens.access_token);
  assert.equal(info.active, true);
  assert.equal(info.scope, 'Colors.Read');

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  assert.equal(refreshed.claims().sub, claims.sub);
  // The rotated token is spent: using it again fails (and revokes the family).
  await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), (err) => err.error === 'invalid_grant');
  info = await client.tokenIntrospection(config, refreshed.refresh_token);
  assert.equal(info.active, false);

  // Revocation.
  await client.tokenRevocation(config, refreshed.access_token);
  info = await client.tokenIntrospection(config, refreshed.access_token);
  assert.equal(info.active, false);
});
