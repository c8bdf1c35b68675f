// The chat: a question goes to the chosen route, the answer streams into a live region,
// then its [n] markers become buttons that open the cited passage. Text from the server is
// only ever set with textContent, so an answer or document cannot inject markup.

import { documentPath, getJson, streamAnswer } from "./api.js";

const MARKER = /\[(\d+(?:\s*[,;]\s*\d+)*)\]/g; // as expertly writes them: [2] or [1, 3]

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/** Fill the route choice from GET /v1/models (the embedder is not a route). */
export async function loadRoutes(select) {
  const models = await getJson("/v1/models");
  const previous = select.value;
  select.replaceChildren();
  for (const model of models.data) {
    if (model.owned_by === "expertly:embed") continue;
    const option = element("option", model.id);
    option.value = model.id;
    select.append(option);
  }
  select.value = previous || "expertly-rag";
  if (!select.value && select.options.length) select.selectedIndex = 0;
}

/** The answer's text with each cited number as a button; other text stays text. */
function renderAnswer(container, text, citations, openPassage) {
  const byNumber = new Map(citations.map((c) => [c.number, c]));
  container.replaceChildren();
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    container.append(text.slice(last, match.index));
    const numbers = match[1].split(/\s*[,;]\s*/).map(Number);
    const single = numbers.length === 1;
    if (!single) container.append("[");
    numbers.forEach((n, i) => {
      if (i) container.append(", ");
      const citation = byNumber.get(n);
      const label = single ? `[${n}]` : String(n);
      if (!citation) {
        container.append(label);
        return;
      }
      const button = element("button", label, "cite");
      button.type = "button";
      button.setAttribute("aria-label", `Source ${n}: ${citation.title || citation.doc_id}`);
      button.addEventListener("click", () => openPassage(citation, button));
      container.append(button);
    });
    if (!single) container.append("]");
    last = match.index + match[0].length;
  }
  container.append(text.slice(last));
}

/** Where to read on when the route could not answer: each lead's quote opens its passage. */
function renderLeads(item, leads, openPassage) {
  if (!leads.length) return;
  const box = element("div", undefined, "leads");
  box.append(element("p", "Closest passages (they did not answer it; read on there):", "muted"));
  const list = element("ul");
  for (const lead of leads) {
    const button = element("button", `[${lead.number}] ${lead.title || lead.doc_id}`, "cite");
    button.type = "button";
    button.addEventListener("click", () => openPassage(lead, button));
    const entry = element("li");
    entry.append(button, " ", element("q", lead.quote));
    list.append(entry);
  }
  box.append(list);
  item.append(box);
}

function describe(extension, seconds) {
  const parts = [`route ${extension.route}`];
  if (extension.model) parts.push(extension.model);
  if (extension.cached) parts.push("cached");
  if (extension.abstained) parts.push("the documents do not hold the answer");
  if (extension.incomplete) parts.push(`incomplete: ${extension.reason}`);
  else if (extension.reason) parts.push(extension.reason);
  parts.push(`${seconds.toFixed(1)} s`);
  return parts.join(" · ");
}

/** Ask the question and stream its answer into a new item of `list`. */
export async function ask(list, model, question, openPassage) {
  const item = element("li", undefined, "answer");
  list.setAttribute("aria-busy", "true"); // the live region: read the answer once complete
  item.append(element("p", question, "question"));
  const body = element("p", "", "answer-text");
  const meta = element("p", "Answering…", "muted meta-line");
  item.append(body, meta);
  list.prepend(item);
  const started = performance.now();
  try {
    const { text, extension, finishReason } = await streamAnswer(model, question, (piece) =>
      body.append(piece),
    );
    const citations = extension?.citations ?? [];
    // The final answer, not the streamed draft: the review may have replaced or cut it.
    renderAnswer(body, extension?.text ?? text, citations, openPassage);
    renderLeads(item, extension?.leads ?? [], openPassage);
    item.append(meta); // after the leads
    let line = extension ? describe(extension, (performance.now() - started) / 1000) : "";
    if (finishReason === "length") line += " · cut at the token limit";
    if (extension?.revised) line += " · the draft shown while it was written was revised";
    meta.textContent = line;
    item.dataset.state = "done";
  } catch (error) {
    meta.textContent = `No answer: ${error.message}`;
    meta.className = "error";
    item.dataset.state = "failed";
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

/**
 * The passage dialog: a citation's quote and where it comes from, and on demand its
 * document's chunks (the cited one marked). Returns {citation(c), document(id)} openers.
 */
export function passageDialog(dialog, onError) {
  const title = dialog.querySelector("#passage-title");
  const meta = dialog.querySelector("#passage-meta");
  const quote = dialog.querySelector("#passage-quote");
  const chunksButton = dialog.querySelector("#passage-chunks");
  const chunks = dialog.querySelector("#chunks");
  let docId = null;
  let citedChunk = null;

  async function loadChunks() {
    chunksButton.disabled = true;
    try {
      const doc = await getJson(documentPath(docId, "/chunks"));
      chunks.replaceChildren();
      for (const chunk of doc.chunks) {
        const item = element("li", chunk.text);
        item.dataset.chunkId = chunk.id;
        if (chunk.id === citedChunk) {
          item.className = "cited";
          item.setAttribute("aria-current", "true");
        }
        chunks.append(item);
      }
      chunks.querySelector(".cited")?.scrollIntoView({ block: "nearest" });
    } catch (error) {
      dialog.close();
      onError(error);
    } finally {
      chunksButton.disabled = false;
    }
  }
  chunksButton.addEventListener("click", loadChunks);

  function reset(id, chunkId, heading) {
    docId = id;
    citedChunk = chunkId;
    title.textContent = heading;
    meta.replaceChildren();
    quote.replaceChildren();
    chunks.replaceChildren();
  }

  return {
    citation(c) {
      reset(c.doc_id, c.chunk_id, `[${c.number}] ${c.title || c.doc_id}`);
      const rows = [
        ["Document", c.doc_id],
        ["Source", c.source],
        ["Page", c.page],
        ["Section", (c.heading_path ?? []).join(" › ")],
        ["Characters", `${c.start}–${c.end}`],
        ["How", c.method === "attributed" ? "attributed by expertly" : "cited by the model"],
      ];
      for (const [name, value] of rows) {
        if (value === null || value === undefined || value === "") continue;
        meta.append(element("dt", name), element("dd", String(value)));
      }
      quote.textContent = c.quote;
      quote.hidden = false;
      chunksButton.hidden = false;
      dialog.showModal();
    },
    document(id) {
      reset(id, null, id);
      quote.hidden = true;
      chunksButton.hidden = true;
      dialog.showModal();
      loadChunks();
    },
  };
}
