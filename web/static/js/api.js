// The API, as the page uses it: same-origin fetch with the session cookie (httponly,
// SameSite=Strict), JSON in and out, and errors a person can read (see describeError).

import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const listeners = { unauthorized: [] };

/** Called when the session has ended (any 401 after sign-in). */
export function onUnauthorized(fn) {
  listeners.unauthorized.push(fn);
}

export async function api(path, { method = "GET", body = undefined, query = null, signal = null, quiet401 = false, headers = null } = {}) {
  let url = path.startsWith("/") ? path : `/api/v1/${path}`;
  if (query) {
    const qs = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value === null || value === undefined || value === "") continue;
      for (const v of Array.isArray(value) ? value : [value]) qs.append(key, String(v));
    }
    const text = qs.toString();
    if (text) url += `?${text}`;
  }
  // No extra headers on plain GETs: the browser then reuses the page's preloaded request.
  const init = { method, credentials: "same-origin", headers: { ...(headers || {}) }, signal };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "network", t("error.network"));
  }
  if (response.status === 204) return null;
  let data = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    const detail = data && data.detail; // FastAPI's own 404/405 bodies
    const err = new ApiError(
      response.status,
      error.code || (typeof detail === "string" ? detail : null),
      error.message || (typeof detail === "string" ? detail : null),
      error.details || null,
    );
    if (response.status === 401 && !quiet401) for (const fn of listeners.unauthorized) fn(err);
    throw err;
  }
  return data;
}

/** A sentence for a person: what went wrong and what they can do. */
export function describeError(err) {
  if (!(err instanceof ApiError)) return t("error.unexpected", { detail: String((err && err.message) || err) });
  switch (err.status) {
    case 0:
      return t("error.network");
    case 401:
      return t("error.unauthorized");
    case 403:
      return t("error.forbidden", { detail: err.message || "" });
    case 404:
      return t("error.not_found");
    case 409:
      return t("error.conflict", { detail: err.message || "" });
    case 413:
      return t("error.too_large");
    case 422: {
      const details = Array.isArray(err.details)
        ? err.details.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.message}`).join("; ")
        : "";
      return t("error.invalid", { detail: details || err.message || "" });
    }
    case 429:
      return t("error.rate_limited");
    default:
      if (err.status >= 500) return t("error.server", { status: err.status });
      return t("error.unexpected", { detail: err.message || `HTTP ${err.status}` });
  }
}

/** Which optional APIs this server offers, name -> collection path (written into the page). */
export const features = new Map(
  (document.body.dataset.features || "")
    .split(/\s+/)
    .filter((token) => token.includes("="))
    .map((token) => token.split("=", 2)),
);
