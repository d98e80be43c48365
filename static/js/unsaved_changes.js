// The page form's guard for the controls that leave it without saving it: the links' and pins' buttons
// and "Remove exclusion" post small forms of their own (link-actions, curation-form: a form cannot hold
// another), and the curation links open other screens. Edits typed into the page form were lost
// without a word; now, when the form differs from what it showed, they ask first.
(function () {
  "use strict";

  var LEAVING = "[form=link-actions], [form=curation-form], .curation-tools a, a.curation-exclude";
  var QUESTION = "Your changes to this page are not saved: they will be lost. " +
    "Cancel, then Save draft to keep them; or OK to leave them.";
  var form = null;
  var shown = null;

  function state() {
    return new URLSearchParams(new FormData(form)).toString();
  }

  // After "load": the rich-text editor has filled its field by then.
  window.addEventListener("load", function () {
    form = document.getElementById("treatmentpage_form");
    if (form) { shown = state(); }
  });

  document.addEventListener("click", function (event) {
    var control = event.target.closest(LEAVING);
    if (!control || shown === null || state() === shown) { return; }
    if (!window.confirm(QUESTION)) { event.preventDefault(); }
  });
})();
