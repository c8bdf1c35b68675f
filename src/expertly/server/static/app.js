// The web UI of `expertly serve`: sign in with a key, then chat, documents and the compare
// report, all through the /v1 API. No framework, no build step, nothing from other origins.

import { ApiError, forgetKey, getJson, request, storedKey, storeKey } from "./api.js";
import { ask, loadRoutes, passageDialog } from "./chat.js";
import { Documents } from "./documents.js";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function showError(error) {
  const box = $("error");
  box.textContent = error.message;
  box.hidden = false;
  if (error instanceof ApiError && error.status === 401) signOut(error.message);
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function signOut(why) {
  forgetKey();
  $("workspace").hidden = true;
  $("header-actions").hidden = true;
  $("sign-in").hidden = false;
  $("who").textContent = why ? "Signed out." : "";
  $("key").value = "";
  $("key").focus();
}

const passage = passageDialog($("passage"), showError);
const documents = new Documents(
  {
    form: $("upload-form"),
    files: $("files"),
    groups: $("groups"),
    jobs: $("jobs"),
    body: $("documents-body"),
    count: $("documents-count"),
    refresh: $("refresh"),
    more: $("more"),
  },
  showError,
  (id) => passage.document(id),
);

/** Wait while the server loads its models (503 not_ready), saying so. */
async function untilReady() {
  for (;;) {
    try {
      await getJson("/v1/documents?limit=1");
      return;
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "not_ready" && error.retryAfter)) {
        throw error;
      }
      $("documents-count").textContent = "The server is loading its models…";
      await sleep(error.retryAfter * 1000);
    }
  }
}

async function enter() {
  clearError();
  try {
    await loadRoutes($("route"));
  } catch (error) {
    forgetKey();
    $("sign-in").hidden = false;
    showError(error);
    return;
  }
  const key = storedKey();
  $("who").textContent = key
    ? `Signed in with key ${key.split("_")[1] ?? ""}.`
    : "Signed in (this server has no keys).";
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("header-actions").hidden = false;
  $("question").focus();
  try {
    await untilReady();
    await documents.reload();
  } catch (error) {
    showError(error);
  }
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  storeKey($("key").value.trim());
  enter();
});

$("sign-out").addEventListener("click", () => signOut(true));

$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("ask");
  const question = $("question").value.trim();
  if (!question || button.disabled) return; // one question at a time
  clearError();
  button.disabled = true;
  try {
    await ask($("answers"), $("route").value, question, (citation) => passage.citation(citation));
  } finally {
    button.disabled = false;
  }
});

$("question").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    $("ask-form").requestSubmit();
  }
});

$("open-report").addEventListener("click", async () => {
  clearError();
  try {
    const html = await (await request("/v1/reports/latest")).text();
    // a sandboxed frame (no scripts, an origin of its own): the report is shown, never run
    $("report-frame").srcdoc = html;
    $("report").showModal();
  } catch (error) {
    showError(error);
  }
});

if (storedKey() === null) {
  $("key").focus();
} else {
  enter();
}
