// The dashboard's behaviour, loaded as a module after the vendored scripts (no inline scripts or handlers:
// the Content-Security-Policy forbids them). For every piece of content htmx loads (the page, then each
// swapped panel): draw its Vega-Lite charts (Vega's expressions through its interpreter, so the CSP needs
// no 'unsafe-eval'), draw its maths with KaTeX, and turn its answer boxes into MathLive maths fields (the
// plain text box stays in the form, kept in step, and comes back with "Type plain text instead").
import { expressionInterpreter } from "/static/vendor/vega-interpreter.js";

function each(root, selector, fn) {
  if (root.matches && root.matches(selector)) fn(root);
  root.querySelectorAll(selector).forEach(fn);
}

function drawCharts(root) {
  if (!window.vegaEmbed) return;
  each(root, "[data-vega-spec]", function (el) {
    vegaEmbed(el, JSON.parse(el.dataset.vegaSpec),
              { actions: false, renderer: "svg", ast: true, expr: expressionInterpreter });
  });
}

function drawMaths(root) {
  if (!window.katex) return;
  each(root, ".math[data-tex]", function (el) {
    if (el.dataset.drawn) return;
    try {
      katex.render(el.dataset.tex, el, { throwOnError: false, output: "htmlAndMathml" });
      el.dataset.drawn = "1";
    } catch (e) { /* the LaTeX source stays shown */ }
  });
}

let mathliveReady = false;
function setUpMathLive() {
  if (mathliveReady || !window.MathfieldElement) return mathliveReady;
  // the vendored fonts, and no sounds (nothing is fetched from elsewhere)
  MathfieldElement.fontsDirectory = "/static/vendor/mathlive/fonts";
  MathfieldElement.soundsDirectory = null;
  MathfieldElement.keypressSound = null;
  MathfieldElement.plonkSound = null;
  mathliveReady = true;
  return true;
}

// MathLive's own focus() does nothing until the field has been focused once; its keyboard sink takes it
function focusBox(el) {
  const sink = el.shadowRoot && el.shadowRoot.querySelector("[part=keyboard-sink]");
  (sink || el).focus();
}

function submit(form) {
  if (form.requestSubmit) form.requestSubmit(); else form.submit();
}

function mathFields(root) {
  if (!setUpMathLive()) return;
  each(root, "input[data-math]", function (input) {
    if (input.dataset.upgraded) return;
    input.dataset.upgraded = "1";
    const label = document.querySelector('label[for="' + input.id + '"]');
    const field = new MathfieldElement();
    field.id = input.id + "-math";
    field.className = "mathfield";
    field.setAttribute("aria-label", (label ? label.textContent.trim() : "Your answer") + " (maths field)");
    field.setAttribute("aria-describedby", input.getAttribute("aria-describedby") || "");
    field.mathVirtualKeyboardPolicy = "auto";
    field.smartMode = false;
    input.after(field);
    if (input.value) field.value = input.value;
    field.addEventListener("input", function () { input.value = field.value; });
    field.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        input.value = field.value;
        submit(input.form);
      }
    });
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "link toggle-plain";
    toggle.textContent = "Type plain text instead";
    toggle.addEventListener("click", function () {
      const plain = input.type !== "text";
      input.type = plain ? "text" : "hidden";
      field.hidden = plain;
      toggle.textContent = plain ? "Use the maths field" : "Type plain text instead";
      if (label) label.htmlFor = plain ? input.id : field.id;
      focusBox(plain ? input : field);
    });
    field.after(toggle);
    input.type = "hidden";
    if (label) label.htmlFor = field.id;
  });
}

// after an answer: say the verdict to screen readers, and put the keyboard in the next answer box
function afterSwap(root) {
  const verdict = root.querySelector && root.querySelector("#verdict");
  const announce = document.getElementById("announce");
  if (verdict && announce) {
    const feedback = root.querySelector("#misconception-feedback, #unreadable, #message");
    announce.textContent = verdict.textContent + (feedback ? ". " + feedback.textContent : "");
  }
  const box = root.querySelector && root.querySelector(
    "form.answer .mathfield:not([hidden]), form.answer input[type=text], form.answer input[type=radio], #answer-right");
  if (box && root !== document.body) focusBox(box);
}

htmx.onLoad(function (root) {
  drawCharts(root);
  drawMaths(root);
  mathFields(root);
  afterSwap(root);
});

// a new hint: read it out and put the keyboard on it
document.addEventListener("htmx:afterSwap", function (event) {
  const hints = document.querySelectorAll("#hints li");
  if (event.detail.target && event.detail.target.id === "hint-box" || event.detail.elt.id === "hint-box") {
    const last = hints[hints.length - 1];
    if (last) {
      last.focus();
      const announce = document.getElementById("announce");
      if (announce) announce.textContent = "Hint " + hints.length + ": " + last.textContent;
    }
  }
});

// the admin's teacher picker submits itself (no inline handlers: the CSP forbids them)
document.addEventListener("change", function (event) {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});

// filter boxes: show only the table rows whose text has what was typed
document.addEventListener("input", function (event) {
  const box = event.target;
  if (!box.matches("input[data-filter]")) return;
  const needle = box.value.trim().toLowerCase();
  document.querySelectorAll(box.dataset.filter + " tbody tr").forEach(function (row) {
    row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
  });
});
