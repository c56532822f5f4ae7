// The test console's OAuth 2.0 redirect URI: hand the authorization
// response to the console window that opened this one, on this origin only.
(function () {
  "use strict";
  var q = new URLSearchParams(window.location.search);
  var msg = { type: "tollgate-oauth", code: q.get("code"), state: q.get("state"), error: q.get("error"), error_description: q.get("error_description") };
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage(msg, window.location.origin);
    window.close();
  } else {
    document.getElementById("callback-status").textContent = "The console window is gone; go back to it and try again.";
  }
})();
