// Keel inbox: the only script. No framework, no build step, nothing fetched from elsewhere.
// 1. queue: poll the API and reload when the set of waiting threads changes;
// 2. thread: reload while a process or a queued job works on it; check edited arguments against
//    the action's JSON schema before submitting (the server checks again; this only saves a trip).
"use strict";

function checkArgs(schema, text) {
  let args;
  try { args = JSON.parse(text); } catch (e) { return "the edited arguments are not valid JSON: " + e.message; }
  if (args === null || typeof args !== "object" || Array.isArray(args)) return "the edited arguments must be a JSON object";
  const props = schema.properties || {};
  for (const name of Object.keys(args)) {
    const spec = props[name];
    if (!spec) continue;
    const value = args[name];
    if (spec.type === "string") {
      if (typeof value !== "string") return name + ": must be a string";
      if (spec.minLength && value.length < spec.minLength) return name + ": must not be empty";
    } else if (spec.type === "integer" || spec.type === "number") {
      if (typeof value !== "number" || (spec.type === "integer" && !Number.isInteger(value))) return name + ": must be a " + spec.type;
      if (spec.exclusiveMinimum !== undefined && value <= spec.exclusiveMinimum) return name + ": must be > " + spec.exclusiveMinimum;
      if (spec.maximum !== undefined && value > spec.maximum) return name + ": must be <= " + spec.maximum;
    }
  }
  return null;
}

function guardForm(form) {
  form.addEventListener("submit", (event) => {
    let failed = false;
    for (const fieldset of form.querySelectorAll("fieldset.action")) {
      const index = fieldset.dataset.index;
      const chosen = fieldset.querySelector("input[type=radio]:checked");
      const error = fieldset.querySelector(".field-error");
      let problem = null;
      if (!chosen) problem = "choose a decision";
      else if (chosen.value === "edit") {
        let schema = {};
        try { schema = JSON.parse(fieldset.dataset.schema || "{}"); } catch (e) { schema = {}; }
        problem = checkArgs(schema, fieldset.querySelector("textarea[name=args-" + index + "]").value);
      } else if (chosen.value === "reject" || chosen.value === "respond") {
        const message = fieldset.querySelector("textarea[name=message-" + index + "]");
        if (!message || !message.value.trim()) problem = chosen.value === "reject" ? "a rejection needs a reason" : "write the response";
      }
      error.textContent = problem ? fieldset.dataset.name + ": " + problem : "";
      error.hidden = !problem;
      failed = failed || Boolean(problem);
    }
    if (failed) event.preventDefault();
  });
}

function pollQueue(body) {
  const shown = body.dataset.waiting || "";
  setInterval(async () => {
    try {
      const response = await fetch("/api/threads?status=awaiting_approval", { credentials: "same-origin" });
      if (!response.ok) return;
      const rows = await response.json();
      const now = rows.map((r) => r.thread_id).sort().join(",");
      if (now !== shown) {
        document.getElementById("refresh-note").hidden = false;
        location.reload();
      }
    } catch (e) { /* the next poll tries again */ }
  }, 10000);
}

document.addEventListener("DOMContentLoaded", () => {
  const body = document.body;
  if (body.dataset.page === "queue") pollQueue(body);
  if (body.dataset.page === "thread" && ["running", "queued"].includes(body.dataset.status)) setTimeout(() => location.reload(), 3000);
  const form = document.getElementById("decision-form");
  if (form) guardForm(form);
});
