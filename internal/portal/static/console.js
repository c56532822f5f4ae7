// Tollgate developer portal test console: builds the request from the
// form, gets a subscription key or an OAuth 2.0 token, calls the gateway
// (CORS), and shows what was sent (secrets masked), the answer and curl.
(function () {
  "use strict";
  var root = document.getElementById("console");
  var form = document.getElementById("console-form");
  if (!root || !form) return;
  form.hidden = false;
  var d = root.dataset;
  var auth = document.getElementById("auth");
  var token = null;

  function show() {
    var v = auth.value;
    root.querySelectorAll("[data-for]").forEach(function (el) {
      el.hidden = el.dataset.for.split(" ").indexOf(v) < 0;
    });
  }
  var app = document.getElementById("application");
  var scopeEl = document.getElementById("scope");
  // The scope follows the choice: the product's for an application, the
  // authorization server's for the authorization code.
  function fillScope() {
    if (auth.value === "client" && app && app.selectedOptions.length) {
      scopeEl.value = app.selectedOptions[0].dataset.scope;
    } else if (auth.value === "code") {
      scopeEl.value = scopeEl.dataset.default || "";
    }
  }
  auth.addEventListener("change", function () { token = null; status(""); show(); fillScope(); });
  if (app) app.addEventListener("change", function () { token = null; status(""); fillScope(); });
  show();
  fillScope();

  function status(t) { document.getElementById("token-status").textContent = t; }

  function portalPost(path, fields) {
    return fetch(d.portal + path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": d.csrf },
      body: new URLSearchParams(fields).toString()
    }).then(function (r) { return r.json().then(function (j) { j.httpStatus = r.status; return j; }); });
  }

  function b64url(bytes) {
    var s = "";
    bytes.forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function random(n) { var a = new Uint8Array(n); crypto.getRandomValues(a); return b64url(a); }

  function scope() { return scopeEl.value.trim(); }

  function codeFlow() {
    var verifier = random(32), state = random(16);
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (h) {
      var q = new URLSearchParams({
        response_type: "code", client_id: d.clientId, redirect_uri: d.callback, scope: scope(),
        state: state, code_challenge: b64url(new Uint8Array(h)), code_challenge_method: "S256"
      });
      var popup = window.open(d.authorize + "?" + q.toString(), "tollgate-oauth", "width=520,height=680");
      if (!popup) throw new Error("The browser blocked the authorization window; allow pop-ups for this portal.");
      return new Promise(function (resolve, reject) {
        function onMessage(ev) {
          if (ev.origin !== window.location.origin || !ev.data || ev.data.type !== "tollgate-oauth") return;
          window.removeEventListener("message", onMessage);
          if (ev.data.state !== state) return reject(new Error("The authorization answer is for another request."));
          if (ev.data.error) return reject(new Error(ev.data.error + ": " + (ev.data.error_description || "")));
          resolve(ev.data.code);
        }
        window.addEventListener("message", onMessage);
      });
    }).then(function (code) {
      return portalPost("/console/token", { api: d.api, grant: "authorization_code", code: code, code_verifier: verifier, scope: scope() });
    });
  }

  function clientFlow() {
    return portalPost("/console/token", { api: d.api, grant: "client_credentials", application: app.value, scope: scope() });
  }

  document.getElementById("get-token").addEventListener("click", function () {
    status("Getting a token…");
    (auth.value === "code" ? codeFlow() : clientFlow()).then(function (t) {
      if (!t.access_token) throw new Error((t.error || "no token") + (t.error_description ? ": " + t.error_description : ""));
      token = t.access_token;
      status("Token received" + (t.scope ? " (scope " + t.scope + ")" : "") + ".");
    }).catch(function (e) { token = null; status("No token: " + e.message); });
  });

  function mask(v) { return v.length <= 8 ? "••••••••" : v.slice(0, 4) + "••••••••" + v.slice(-4); }
  function shq(s) { return "'" + s.replace(/'/g, "'\\''") + "'"; }

  function buildURL() {
    var path = d.path, query = [];
    form.querySelectorAll(".param").forEach(function (el) {
      if (el.dataset.in === "path") {
        path = path.split("{" + el.name + "}").join(encodeURIComponent(el.value));
      } else if (el.value !== "") {
        query.push(encodeURIComponent(el.name) + "=" + encodeURIComponent(el.value));
      }
    });
    return d.base + path + (query.length ? "?" + query.join("&") : "");
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var headers = [], secretHeaders = {};
    document.getElementById("headers").value.split("\n").forEach(function (line) {
      var i = line.indexOf(":");
      if (i > 0) headers.push([line.slice(0, i).trim(), line.slice(i + 1).trim()]);
    });
    var bodyEl = document.getElementById("body");
    var body = bodyEl && bodyEl.value !== "" ? bodyEl.value : undefined;
    var ready = Promise.resolve();
    if (auth.value === "key") {
      ready = portalPost("/console/key", { subscription: document.getElementById("subscription").value }).then(function (j) {
        if (!j.key) throw new Error(j.error || "no key");
        headers.push([d.keyHeader, j.key]);
        secretHeaders[d.keyHeader.toLowerCase()] = true;
      });
    } else if (auth.value === "code" || auth.value === "client") {
      if (!token) { status("Get a token first."); return; }
      headers.push(["Authorization", "Bearer " + token]);
      secretHeaders.authorization = true;
    }
    ready.then(function () {
      var url = buildURL();
      var h = new Headers();
      headers.forEach(function (kv) { h.append(kv[0], kv[1]); });
      if (body !== undefined && !h.has("Content-Type")) {
        h.set("Content-Type", "application/json");
        headers.push(["Content-Type", "application/json"]);
      }
      var shown = d.method + " " + url + "\n", curl = "curl -i -X " + d.method + " " + shq(url);
      headers.forEach(function (kv) {
        var k = kv[0], v = kv[1];
        var mv = secretHeaders[k.toLowerCase()] ? (k.toLowerCase() === "authorization" ? "Bearer " + mask(token) : mask(v)) : v;
        shown += k + ": " + mv + "\n";
        curl += " \\\n  -H " + shq(k + ": " + mv);
      });
      if (body !== undefined) { shown += "\n" + body; curl += " \\\n  --data " + shq(body); }
      document.getElementById("request-sent").textContent = shown;
      document.getElementById("curl").textContent = curl;
      document.getElementById("result").hidden = false;
      document.getElementById("status").textContent = "sending…";
      return fetch(url, { method: d.method, headers: h, body: body, credentials: "omit", mode: "cors" }).then(function (r) {
        var rh = "";
        r.headers.forEach(function (v, k) { rh += k + ": " + v + "\n"; });
        document.getElementById("status").textContent = r.status + " " + r.statusText;
        document.getElementById("response-headers").textContent = rh;
        return r.text().then(function (t) {
          if (/json/.test(r.headers.get("Content-Type") || "")) {
            try { t = JSON.stringify(JSON.parse(t), null, 2); } catch (e) { /* shown as sent */ }
          }
          document.getElementById("response-body").textContent = t;
        });
      });
    }).catch(function (e) {
      document.getElementById("result").hidden = false;
      document.getElementById("status").textContent = "failed: " + e.message + " (is CORS for this portal configured on the gateway?)";
    });
  });
})();
