// Payment page: ask the server every few seconds until M-Pesa gives a final answer, then show it.
(function () {
  "use strict";
  var card = document.getElementById("payment");
  if (!card || card.dataset.final === "true") return;
  var url = card.dataset.statusUrl;
  var delay = 3000;
  var stopAt = Date.now() + 20 * 60 * 1000;

  function show(state) {
    document.getElementById("payment-status").textContent = state.status_display;
    document.getElementById("payment-message").textContent = state.message;
    if (!state.final) return false;
    document.getElementById("payment-spinner").classList.add("d-none");
    if (state.receipt_url) {
      document.getElementById("receipt-link").classList.remove("d-none");
    } else {
      document.getElementById("retry-link").classList.remove("d-none");
    }
    return true;
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (state && show(state)) return;
        if (Date.now() < stopAt) setTimeout(poll, delay);
      })
      .catch(function () { if (Date.now() < stopAt) setTimeout(poll, delay * 2); });
  }
  setTimeout(poll, delay);
})();
