// The documents panel: upload files into an ingest job and follow its status, list the
// indexed documents the key may read, show one's chunks, delete one.

import { documentPath, getJson, request } from "./api.js";

const PAGE = 50;
const POLL_MS = 1000;

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Documents {
  /** `ui` holds the panel's elements; `onError(error)` shows what went wrong. */
  constructor(ui, onError, showChunks) {
    this.ui = ui;
    this.onError = onError;
    this.showChunks = showChunks;
    this.shown = 0;
    ui.refresh.addEventListener("click", () => this.reload());
    ui.more.addEventListener("click", () => this.load(this.shown));
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.upload();
    });
  }

  /** The first page again. */
  reload() {
    return this.load(0);
  }

  async load(offset) {
    try {
      const page = await getJson(`/v1/documents?limit=${PAGE}&offset=${offset}`);
      if (offset === 0) this.ui.body.replaceChildren();
      for (const doc of page.data) this.ui.body.append(this.row(doc));
      this.shown = offset + page.data.length;
      this.ui.count.textContent =
        page.total === 1 ? "1 document indexed." : `${page.total} documents indexed.`;
      this.ui.more.hidden = !page.has_more;
    } catch (error) {
      this.onError(error);
    }
  }

  row(doc) {
    const row = element("tr");
    row.dataset.docId = doc.id;
    const name = element("td");
    name.append(element("span", doc.id, "doc-id"));
    if (doc.title && doc.title !== doc.id) name.append(element("span", doc.title, "muted block"));
    const status = element("td", "indexed", "status-indexed");
    const chunks = element("td", String(doc.chunks), "num");
    const actions = element("td", undefined, "actions");
    const show = element("button", "Chunks");
    show.type = "button";
    show.setAttribute("aria-label", `Show the chunks of ${doc.id}`);
    show.addEventListener("click", () => this.showChunks(doc.id, show));
    const remove = element("button", "Delete", "danger");
    remove.type = "button";
    remove.setAttribute("aria-label", `Delete ${doc.id}`);
    remove.addEventListener("click", () => this.remove(doc.id, row));
    actions.append(show, remove);
    row.append(name, status, chunks, actions);
    return row;
  }

  async remove(id, row) {
    if (!window.confirm(`Delete ${id} from the index? Its answers are forgotten too.`)) return;
    try {
      await request(documentPath(id), { method: "DELETE" });
      row.remove();
      this.ui.count.textContent = `Deleted ${id}.`;
      this.ui.refresh.focus();
      await this.reload();
    } catch (error) {
      this.onError(error);
    }
  }

  async upload() {
    const files = [...this.ui.files.files];
    if (!files.length) return;
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    if (this.ui.groups.value.trim()) form.append("groups", this.ui.groups.value.trim());
    const item = element("li", `Uploading ${files.map((f) => f.name).join(", ")}…`);
    this.ui.jobs.prepend(item);
    try {
      let job = await (await request("/v1/uploads", { method: "POST", body: form })).json();
      this.ui.form.reset();
      while (job.status === "queued" || job.status === "running") {
        this.showJob(item, job);
        await sleep(POLL_MS);
        job = await getJson(`/v1/uploads/${encodeURIComponent(job.id)}`);
      }
      this.showJob(item, job);
      await this.reload();
    } catch (error) {
      item.textContent = `Upload failed: ${error.message}`;
      item.className = "error";
    }
  }

  /** One job's line: its status, then each file's outcome once it is done. */
  showJob(item, job) {
    item.replaceChildren(element("span", `${job.files.join(", ")}: ${job.status}`));
    item.dataset.status = job.status;
    if (job.error) item.append(element("span", ` (${job.error})`, "error"));
    if (!job.results.length) return;
    const results = element("ul");
    for (const result of job.results) {
      const text =
        result.status === "failed"
          ? `${result.doc_id}: failed, ${result.reason}`
          : `${result.doc_id}: ${result.status}, ${result.chunks} chunk${result.chunks === 1 ? "" : "s"}`;
      results.append(element("li", text, result.status === "failed" ? "error" : undefined));
    }
    item.append(results);
  }
}
