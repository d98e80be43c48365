// The page form's PubMed tools, inline. "Test query" and "Refresh now" are submit buttons that work
// without this script (publications/admin_tools.py); with it, their views (formaction, or for Refresh
// now data-pubmed-url) answer JSON and the answer appears under the query field, without leaving the
// form. "Refresh now" then polls the refresh's status until it has finished.
(function () {
  "use strict";

  var POLL_MS = 1000;

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function getJson(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    return fetch(url, options).then(function (response) {
      if (!response.ok) {
        throw new Error("the server answered " + response.status + " " + response.statusText);
      }
      return response.json();
    });
  }

  function postForm(button, fields) {
    var form = button.form;
    var data = new FormData();
    data.append("csrfmiddlewaretoken", csrfToken(form));
    Object.keys(fields).forEach(function (name) { data.append(name, fields[name]); });
    return getJson(button.dataset.pubmedUrl || button.getAttribute("formaction"), {
      method: "POST",
      body: data,
      headers: { "X-CSRFToken": csrfToken(form) },
    });
  }

  function say(area, text) {
    area.hidden = false;
    area.textContent = text;
  }

  function testQuery(button, tools) {
    var area = tools.querySelector("[data-pubmed-result=test]");
    var query = button.form.querySelector("[name=pubmed_query]");
    button.disabled = true;
    say(area, "Asking PubMed…");
    postForm(button, { pubmed_query: query ? query.value : "" })
      .then(function (answer) {
        area.innerHTML = answer.html; // built by our own template: every value escaped
      })
      .catch(function (error) { say(area, "The test did not work: " + error.message + "."); })
      .finally(function () { button.disabled = false; });
  }

  function showStatus(area, status) {
    say(area, status.message);
    if (status.run && status.run.url) {
      area.appendChild(document.createTextNode(" "));
      var link = document.createElement("a");
      link.href = status.run.url;
      link.textContent = "The run's details";
      area.appendChild(link);
    }
    area.dataset.state = status.state;
  }

  function poll(url, area, button) {
    getJson(url)
      .then(function (answer) {
        var status = answer.pages[0];
        if (status) { showStatus(area, status); }
        if (answer.done) {
          button.disabled = false;
        } else {
          window.setTimeout(function () { poll(url, area, button); }, POLL_MS);
        }
      })
      .catch(function (error) {
        say(area, "Could not follow the refresh: " + error.message + ".");
        button.disabled = false;
      });
  }

  function refreshNow(button, tools) {
    var area = tools.querySelector("[data-pubmed-result=refresh]");
    button.disabled = true;
    say(area, "Queueing the refresh…");
    postForm(button, {})
      .then(function (answer) {
        say(area, answer.message);
        if (answer.status_url) {
          poll(answer.status_url, area, button);
        } else {
          button.disabled = false;
        }
      })
      .catch(function (error) {
        say(area, "The refresh could not be queued: " + error.message + ".");
        button.disabled = false;
      });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-pubmed-tool]");
    var tools = button && button.closest(".pubmed-tools");
    if (!tools || !window.fetch) { return; }
    event.preventDefault();
    if (button.dataset.pubmedTool === "test") {
      testQuery(button, tools);
    } else {
      refreshNow(button, tools);
    }
  });
})();
