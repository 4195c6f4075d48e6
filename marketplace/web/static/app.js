// Live parts of the pages: local times, the countdown, the auction's bid feed (SSE), and
// the confirmation dialog of irreversible actions.
"use strict";

(function () {
  var money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
  var timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });

  var secondsFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });

  function localize(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      var format = el.hasAttribute("data-seconds") ? secondsFormat : timeFormat;
      if (!isNaN(when)) { el.textContent = format.format(when); }
    });
  }

  function timeElement(iso, seconds) {
    var el = document.createElement("time");
    el.setAttribute("datetime", iso);
    el.setAttribute("data-local", "");
    if (seconds) { el.setAttribute("data-seconds", ""); }
    el.textContent = iso;
    return el;
  }

  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
    var m = Math.floor(s % 3600 / 60), sec = s % 60;
    var parts = [];
    if (d) { parts.push(d + " d"); }
    if (d || h) { parts.push(h + " h"); }
    if (d || h || m) { parts.push(m + " min"); }
    parts.push(sec + " s");
    return parts.join(" ");
  }

  function startCountdown(state) {
    var el = document.getElementById("countdown");
    if (!el) { return; }
    // The server's clock decides; measure our offset from it once.
    state.offset = Date.parse(el.dataset.serverTime) - Date.now();
    state.until = Date.parse(el.dataset.until);
    function tick() {
      var left = state.until - (Date.now() + state.offset);
      if (left > 0) {
        el.textContent = "in " + duration(left);
      } else {
        el.textContent = state.status === "open" ? "now (closing…)" : "now (opening…)";
      }
    }
    tick();
    setInterval(tick, 1000);
  }

  function followAuction(article) {
    var id = article.dataset.auctionId;
    var state = { status: article.dataset.status, until: 0, offset: 0 };
    var decrement = parseInt(article.dataset.minDecrement, 10) || 0;
    startCountdown(state);
    if (article.dataset.live !== "true" || !window.EventSource) { return; }
    var feed = document.getElementById("feed");
    var source = new EventSource("/api/auctions/" + id + "/events");
    var liveState = document.getElementById("live-state");

    function onBid(ev) {
      var data = JSON.parse(ev.data);
      if (!feed || feed.querySelector('[data-bid-id="' + data.bid_id + '"]')) { return; }
      var li = document.createElement("li");
      li.dataset.bidId = data.bid_id;
      var alias = document.createElement("span");
      alias.className = "alias";
      alias.textContent = data.bidder_alias;
      var amount = document.createElement("strong");
      amount.textContent = money.format(data.amount_cents / 100);
      li.append(alias, " bid ", amount, " ", timeElement(data.occurred_at, true));
      localize(li);
      feed.prepend(li);
      var none = document.getElementById("no-bids");
      if (none) { none.remove(); }
      var low = document.getElementById("low-bid");
      if (low) { low.textContent = money.format(data.amount_cents / 100); }
      var count = document.getElementById("bid-count");
      if (count) { count.textContent = String((parseInt(count.textContent, 10) || 0) + 1); }
      var max = document.getElementById("max-allowed");
      if (max && article.dataset.type === "reverse") {
        var allowed = data.amount_cents - decrement;
        max.dataset.cents = String(allowed);
        max.textContent = money.format(allowed / 100);
      }
      if (data.ends_at) { extend(data.ends_at); }
      var standing = document.getElementById("standing");
      if (standing && standing.classList.contains("success") && article.dataset.type === "reverse") {
        // Someone else's bid: we may have been outbid; the server says where we stand.
        window.location.reload();
      }
    }

    function extend(iso) {
      var t = Date.parse(iso);
      if (state.status !== "open" || isNaN(t) || t <= state.until) { return; }
      state.until = t;
      var ends = document.getElementById("ends-at");
      if (ends) { ends.replaceChildren(timeElement(iso)); localize(ends); }
    }

    function reloadOn(statuses) {
      return function () { if (statuses.indexOf(state.status) >= 0) { window.location.reload(); } };
    }

    function onAnswer(ev) {
      var data = JSON.parse(ev.data);
      var list = document.getElementById("qa");
      if (!list) { return; }
      var li = document.getElementById("question-" + data.question_id);
      if (li && li.querySelector(".answer")) { return; }
      if (!li) {
        li = document.createElement("li");
        li.id = "question-" + data.question_id;
        li.dataset.questionId = data.question_id;
        list.append(li);
      }
      // Rebuilt from the event alone (the public view: it never names who asked).
      li.replaceChildren();
      li.append(paragraph("question", "Question", data.asked_at), prose(data.question),
        paragraph("answer", "Answer", data.answered_at), prose(data.answer));
      localize(li);
      var none = document.getElementById("no-questions");
      if (none) { none.remove(); }
    }

    function paragraph(cls, label, iso) {
      var p = document.createElement("p");
      var strong = document.createElement("strong");
      p.className = cls;
      strong.textContent = label;
      p.append(strong, ", ", timeElement(iso), ":");
      return p;
    }

    function prose(text) {
      var div = document.createElement("div");
      div.className = "prose";
      div.textContent = text;
      return div;
    }

    function onAmended(ev) {
      var data = JSON.parse(ev.data);
      var section = document.getElementById("amendments");
      var list = document.getElementById("amendments-list");
      if (!list || list.querySelector('[data-amendment-id="' + data.amendment_id + '"]')) { return; }
      var names = { description: "description", acceptance: "acceptance criteria" };
      var li = document.createElement("li");
      li.dataset.amendmentId = data.amendment_id;
      var p = document.createElement("p");
      var strong = document.createElement("strong");
      strong.append("Amended ", timeElement(data.amended_at));
      var moved = data.ends_at !== data.previous_ends_at;
      p.append(strong, ": the " + data.changed.map(function (c) { return names[c] || c; }).join(" and ") +
        ". Reason: " + data.reason + (moved ? " Bidding now closes " : ""));
      if (moved) { p.append(timeElement(data.ends_at), "."); }
      li.append(p);
      [["previous_description", "Description before this amendment"],
       ["previous_acceptance", "Acceptance criteria before this amendment"]].forEach(function (pair) {
        if (data[pair[0]] === null || data[pair[0]] === undefined) { return; }
        var details = document.createElement("details");
        var summary = document.createElement("summary");
        summary.textContent = pair[1];
        details.append(summary, prose(data[pair[0]] || "(none)"));
        li.append(details);
      });
      localize(li);
      list.append(li);
      if (section) { section.hidden = false; }
      if (data.description !== null && data.description !== undefined) {
        var desc = document.querySelector("#desc-heading + .prose");
        if (desc) { desc.textContent = data.description; }
      }
      var acceptance = document.getElementById("acceptance-text");
      if (acceptance && data.acceptance !== null && data.acceptance !== undefined) {
        acceptance.textContent = data.acceptance;
        document.getElementById("acceptance").hidden = !data.acceptance;
      }
      var cutoff = document.getElementById("questions-close");
      if (cutoff && data.questions_close_at) {
        cutoff.replaceChildren(timeElement(data.questions_close_at));
        localize(cutoff);
      }
      if (data.ends_at) { extend(data.ends_at); }
    }

    source.addEventListener("question.answered", onAnswer);
    source.addEventListener("auction.amended", onAmended);
    source.addEventListener("bid.placed", onBid);
    source.addEventListener("auction.extended", function (ev) { extend(JSON.parse(ev.data).ends_at); });
    source.addEventListener("auction.opened", reloadOn(["scheduled"]));
    ["auction.awarded", "auction.closed_no_bids", "auction.cancelled", "bids.revealed"].forEach(
      function (type) { source.addEventListener(type, reloadOn(["scheduled", "open"])); }
    );
    source.onopen = function () {
      if (liveState) { liveState.textContent = "Live: bids appear here as they are placed."; }
    };
    source.onerror = function () {
      if (liveState) { liveState.textContent = "Reconnecting to the live feed…"; }
    };
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function inputValue(when) {
    var value = when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" + pad(when.getDate()) +
      "T" + pad(when.getHours()) + ":" + pad(when.getMinutes());
    return when.getSeconds() ? value + ":" + pad(when.getSeconds()) : value;
  }

  // Zoned forms (marketplace/web/zoned.py): the server shows each field's instant in the zone
  // the form's tz names; shown again here in the browser's zone, with tz and the labels
  // following, so the server reads the values back in the zone they were shown in.
  function zonedForms() {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone) { return; }
    document.querySelectorAll("form[data-zoned]").forEach(function (form) {
      var tz = form.querySelector("input[name=tz]");
      if (!tz || tz.value === zone || form.hasAttribute("data-zone-fixed")) { return; }
      form.querySelectorAll("input[data-instant]").forEach(function (el) {
        var when = new Date(el.getAttribute("data-instant"));
        if (el.getAttribute("data-instant") && !isNaN(when)) { el.value = inputValue(when); }
      });
      tz.value = zone;
      form.querySelectorAll("[data-zone-label]").forEach(function (el) { el.textContent = zone; });
    });
    // Elsewhere a zone label names the zone the page's times are shown in (localize above).
    document.querySelectorAll("[data-zone-label]").forEach(function (el) {
      if (!el.closest("form[data-zoned]")) { el.textContent = zone; }
    });
  }

  // Irreversible actions ask first (the question is the button's data-confirm, written by
  // the server). Without this script the server asks on a confirmation page instead.
  function confirmDialog() {
    var dialog = document.createElement("dialog");
    dialog.id = "confirm-dialog";
    dialog.className = "confirm";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-question");
    dialog.setAttribute("aria-describedby", "confirm-dialog-detail");
    var question = document.createElement("h2");
    question.id = "confirm-dialog-question";
    var detail = document.createElement("p");
    detail.id = "confirm-dialog-detail";
    var yes = document.createElement("button");
    yes.type = "button";
    yes.id = "confirm-dialog-yes";
    var no = document.createElement("button");
    no.type = "button";
    no.className = "secondary";
    no.textContent = "No, go back";
    var buttons = document.createElement("p");
    buttons.append(yes, " ", no);
    dialog.append(question, detail, buttons);
    document.body.append(dialog);
    no.addEventListener("click", function () { dialog.close(); });
    return { dialog: dialog, question: question, detail: detail, yes: yes, no: no };
  }

  function confirmations() {
    var ui = null, pending = null, opener = null;
    document.addEventListener("submit", function (ev) {
      var form = ev.target, button = ev.submitter;
      if (!button || !button.dataset.confirm || form.querySelector("input[name=confirmed]")) { return; }
      ev.preventDefault();
      if (!form.reportValidity()) { return; }
      if (!ui) {
        ui = confirmDialog();
        ui.yes.addEventListener("click", function () {
          var go = pending;
          pending = null;
          ui.dialog.close();
          if (go) { go(); }
        });
        ui.dialog.addEventListener("close", function () {
          // The close event comes a moment after close(): if the dialog was asked again in
          // between (Escape, then Enter, fast), the new question stays live.
          if (ui.dialog.open) { return; }
          if (pending && opener) { opener.focus(); }
          pending = null;
        });
      }
      opener = button;
      ui.question.textContent = button.dataset.confirm;
      ui.detail.textContent = button.dataset.confirmDetail || "";
      ui.yes.textContent = button.dataset.confirmYes || "Yes";
      ui.yes.className = button.hasAttribute("data-confirm-danger") ? "danger" : "";
      pending = function () {
        var mark = document.createElement("input");
        mark.type = "hidden";
        mark.name = "confirmed";
        mark.value = "yes";
        form.append(mark);
        form.requestSubmit(button);
      };
      ui.dialog.showModal();
      ui.no.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    confirmations();
    localize(document);
    zonedForms();
    var article = document.getElementById("auction");
    if (article) { followAuction(article); }
  });
})();
