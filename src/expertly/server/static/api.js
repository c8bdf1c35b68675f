// The /v1 API as the web UI uses it: the signed-in key sent as a bearer token, errors in
// OpenAI's shape turned into ApiError, and chat answers read from server-sent events.

const KEY = "expertly.key";

/** An error answered by the server ({"error": {"message", "code"}}) or the network. */
export class ApiError extends Error {
  constructor(status, message, code, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** The key of this tab (sessionStorage: gone when the tab closes), or null if signed out. */
export function storedKey() {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
}

function headers(extra = {}) {
  const key = storedKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  let code = null;
  try {
    const body = await response.json();
    message = body.error?.message ?? message;
    code = body.error?.code ?? null;
  } catch (parseError) {
    // not OpenAI's error shape (a proxy's page, say): the status line says what happened
    message = `${message} (the reply was not JSON: ${parseError.message})`;
  }
  const retry = Number(response.headers.get("Retry-After")) || null;
  return new ApiError(response.status, message, code, retry);
}

/** fetch() with the key; the response when it is 2xx, else an ApiError. */
export async function request(path, init = {}) {
  const response = await fetch(path, { ...init, headers: headers(init.headers) });
  if (!response.ok) throw await failure(response);
  return response;
}

export async function getJson(path) {
  return (await request(path)).json();
}

/** The path of one document (its id may hold slashes: each part is encoded). */
export function documentPath(id, suffix = "") {
  return `/v1/documents/${id.split("/").map(encodeURIComponent).join("/")}${suffix}`;
}

/**
 * Ask `question` of the route `model` with stream=true. `onText(piece)` is called for
 * each piece of text as it arrives; the result is {text, extension, finishReason}, where
 * extension is the `expertly` field of the finishing chunk (citations, route, timings).
 */
export async function streamAnswer(model, question, onText, signal) {
  const response = await request("/v1/chat/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content: question }] }),
    signal,
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let text = "";
  let extension = null;
  let finishReason = null;
  let done = false;
  while (!done) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") {
          done = true;
          break;
        }
        const chunk = JSON.parse(data);
        if (chunk.error) throw new ApiError(500, chunk.error.message, chunk.error.code, null);
        if (chunk.expertly) extension = chunk.expertly;
        for (const choice of chunk.choices ?? []) {
          const piece = choice.delta?.content;
          if (piece) {
            text += piece;
            onText(piece);
          }
          if (choice.finish_reason) finishReason = choice.finish_reason;
        }
      }
    }
  }
  if (!done) throw new ApiError(0, "The answer was cut off: the stream ended early.", null, null);
  return { text, extension, finishReason };
}
