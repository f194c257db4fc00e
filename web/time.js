// Times as people read them. Token times come as Unix seconds (0 = never); `created` as RFC 3339.

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;

export const nowSeconds = () => Date.now() / 1000;

function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** "in 10 days", "3 hours ago", "in 5 minutes", "just now". Days above 48 hours, hours below. */
export function relative(unixSeconds, now = nowSeconds()) {
  const diff = unixSeconds - now;
  const abs = Math.abs(diff);
  let text;
  if (abs < 45) return diff >= 0 ? 'in less than a minute' : 'just now';
  if (abs < HOUR) text = plural(Math.max(1, Math.round(abs / MINUTE)), 'minute');
  else if (abs < 48 * HOUR) text = plural(Math.max(1, Math.round(abs / HOUR)), 'hour');
  else text = plural(Math.round(abs / DAY), 'day');
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

export function isExpired(expires, now = nowSeconds()) {
  return expires !== 0 && expires <= now;
}

/** A token's expiry: "never", "expired" or "in N days/hours/minutes". */
export function expiresText(expires, now = nowSeconds()) {
  if (!expires) return 'never';
  if (isExpired(expires, now)) return 'expired';
  return relative(expires, now);
}

/** lastUsed: "never" or "N days ago". */
export function lastUsedText(lastUsed, now = nowSeconds()) {
  return lastUsed ? relative(lastUsed, now) : 'never';
}

const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

export function formatDateTime(date) {
  return full.format(date);
}

export function formatDate(date) {
  return dateOnly.format(date);
}

/** Unix seconds or an RFC 3339 string → Date (null when absent or unparseable). */
export function toDate(value) {
  if (value === 0 || value === null || value === undefined || value === '') return null;
  const ms = typeof value === 'number' ? value * 1000 : Date.parse(value);
  return Number.isFinite(ms) ? new Date(ms) : null;
}

/** YYYY-MM-DD of a Date in local time, as <input type="date"> wants. */
export function isoDate(date) {
  const p = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}`;
}

/** Local Date for YYYY-MM-DD at the given time of day (defaults to midnight). */
export function parseIsoDate(text, { hours = 0, minutes = 0, seconds = 0 } = {}) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || '');
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), hours, minutes, seconds);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function addDays(date, days) {
  const d = new Date(date.getTime());
  d.setDate(d.getDate() + days);
  return d;
}

export const SECONDS = { MINUTE, HOUR, DAY };
