// Every call to the server goes through request(): same-origin fetch with the session cookie, the
// CSRF header on anything but GET, JSON in and out, and errors turned into ApiError with the
// server's own message. A 401 on an API call means the session is gone; the handler set by the app
// brings back the sign-in form.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

let csrfToken = null;
let unauthorizedHandler = null;

export function setCsrfToken(token) {
  csrfToken = token || null;
}

export function setUnauthorizedHandler(fn) {
  unauthorizedHandler = fn;
}

/** Builds a path from a template, percent-encoding each interpolated segment: p`/api/orgs/${org}`. */
export function p(strings, ...values) {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ''), '');
}

/** path + ?query, skipping empty values. */
export function withQuery(path, query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

const TIMEOUT_MS = 30000;

/**
 * method, path (already encoded), opts: body (object → JSON), query, signOutOn401 (default true).
 * Resolves to the parsed JSON (null for 204); rejects with ApiError.
 */
export async function request(method, path, { body, query, signOutOn401 = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(withQuery(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    const why = e && e.name === 'TimeoutError' ? 'The server did not answer in time.' : 'Cannot reach the server.';
    throw new ApiError(0, `${why} Check your connection and try again.`);
  }
  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const message =
      data && typeof data.message === 'string' && data.message ? data.message : `The request failed (HTTP ${res.status}).`;
    const err = new ApiError(res.status, message);
    if (res.status === 401 && signOutOn401 && unauthorizedHandler) unauthorizedHandler(err);
    throw err;
  }
  return data;
}

export const get = (path, query) => request('GET', path, { query });
export const post = (path, body, query) => request('POST', path, { body, query });
export const patch = (path, body) => request('PATCH', path, { body });
export const del = (path, query) => request('DELETE', path, { query });
