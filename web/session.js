// The console session: sign in (password or token), restore on page load, sign out, and expiry.
// The cookie is HttpOnly; this module keeps only what the server returned: the CSRF token, the
// user and the expiry time.

import { request, setCsrfToken } from './api.js';

let current = null;
let expiryTimer = null;
const listeners = new Set();

/** {csrfToken, user: {login, name, siteAdmin}, expires} or null. */
export function session() {
  return current;
}

/** fn(session, reason) on every change; reason: 'signed-in', 'restored', 'signed-out', 'expired'. */
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function set(next, reason) {
  current = next;
  setCsrfToken(next ? next.csrfToken : null);
  clearTimeout(expiryTimer);
  expiryTimer = null;
  if (next && next.expires) scheduleExpiry(next.expires);
  for (const fn of listeners) fn(current, reason);
}

function scheduleExpiry(expires) {
  const ms = expires * 1000 - Date.now();
  if (ms <= 0) {
    queueMicrotask(() => expire());
    return;
  }
  // setTimeout holds at most ~24.8 days; a session is 12 hours, but stay safe and re-check.
  expiryTimer = setTimeout(() => (Date.now() >= expires * 1000 ? expire() : scheduleExpiry(expires)), Math.min(ms + 500, 2 ** 31 - 1));
}

/** The session is over (expired, revoked elsewhere, or the server said 401). */
export function expire() {
  if (current) set(null, 'expired');
}

// A laptop that slept past the expiry: timers may fire late, so check when the page is seen again.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && current && current.expires && Date.now() >= current.expires * 1000) expire();
});

/** Resolves to true when a session cookie is still good. */
export async function restore() {
  try {
    const s = await request('GET', '/console/session', { signOutOn401: false });
    set(s, 'restored');
    return true;
  } catch (e) {
    if (e.status === 401) {
      set(null, 'signed-out');
      return false;
    }
    throw e;
  }
}

export async function signInWithPassword(login, password) {
  const s = await request('POST', '/console/session', { body: { login, password }, signOutOn401: false });
  set(s, 'signed-in');
}

export async function signInWithToken(token) {
  const s = await request('POST', '/console/session', { body: { token }, signOutOn401: false });
  set(s, 'signed-in');
}

export async function signOut() {
  try {
    await request('DELETE', '/console/session', { signOutOn401: false });
  } finally {
    set(null, 'signed-out');
  }
}
