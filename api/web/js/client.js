// The public API, called with the user's bearer token. Every failure becomes an ApiError
// whose `kind` tells a section what to show: unavailable (the endpoint is not on this
// server), forbidden, signin (token refused), or failed (try again).
import { clearToken, token } from "./session.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }

  get kind() {
    if (this.status === 401) return "signin";
    if (this.status === 403) return "forbidden";
    if (this.status === 404 || this.status === 405) return "unavailable";
    return "failed";
  }
}

let onSignedOut = () => {};
export const whenSignedOut = (callback) => (onSignedOut = callback);

export async function call(method, path, { query, body, raw = false } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== "" && v !== null && v !== undefined) url.searchParams.set(k, v);
  const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { detail: "The server could not be reached. Check your connection and try again." });
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    const error = new ApiError(response.status, problem);
    if (error.kind === "signin") {
      clearToken();
      onSignedOut(error.message);
    }
    throw error;
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json().catch(() => null);
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body: body ?? {} });

// A user-facing sentence for an error in a section named `what`.
export function explain(error, what) {
  switch (error.kind) {
    case "unavailable":
      return `${what} isn't available on this server yet.`;
    case "forbidden":
      return `${what}: ${error.message}`;
    default: {
      const id = error.problem.request_id ? ` (request ${error.problem.request_id})` : "";
      return `${what} could not be loaded: ${error.message}${id}. Try again in a moment.`;
    }
  }
}
