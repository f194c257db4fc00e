// Creating a token (personal, organization or team) and showing its value, once.

import { h, uid } from './dom.js';
import { field, checkbox, formDialog, infoDialog, button } from './ui.js';
import { addDays, isoDate, parseIsoDate, formatDateTime, SECONDS } from './time.js';

const PRESETS = [
  { value: '7', label: '7 days', days: 7 },
  { value: '30', label: '30 days', days: 30 },
  { value: '90', label: '90 days', days: 90 },
  { value: '365', label: '1 year', days: 365 },
  { value: 'never', label: 'Never', days: 0 },
  { value: 'date', label: 'On a date', days: null },
];
const MAX_DAYS = 730; // the server refuses more than two years (731 days counting a leap day)

/**
 * The expiry chooser: presets as radio buttons and a date picker (tomorrow … two years ahead, or
 * the organization's cap). Returns {node, expires()} where expires() is Unix seconds, 0 for never,
 * or throws an Error with a message for the user.
 */
function expiryPicker({ maxDays }) {
  const cap = maxDays ? Math.min(maxDays, MAX_DAYS) : MAX_DAYS;
  const name = uid('expiry');
  const today = new Date();
  const date = h('input', { type: 'date', min: isoDate(addDays(today, 1)), max: isoDate(addDays(today, cap)), class: 'input' });
  const radios = [];
  const defaultValue = maxDays && maxDays < 30 ? 'date' : '30';
  const options = PRESETS.map((p) => {
    const tooLong = maxDays ? p.days === 0 || p.days > maxDays : false;
    const input = h('input', { type: 'radio', name, value: p.value, checked: p.value === defaultValue, disabled: tooLong && p.value !== 'date' });
    radios.push(input);
    return h('label', { class: ['choice', tooLong && 'choice-disabled'] }, input, h('span', {}, p.label));
  });
  // Picking a date selects "On a date".
  date.addEventListener('input', () => radios.forEach((r) => (r.checked = r.value === 'date')));
  const dateField = field('Expiry date', date, {
    hint: maxDays
      ? `This organization allows tokens of at most ${maxDays} day${maxDays === 1 ? '' : 's'}.`
      : 'Up to two years from today. The token expires at this time of day on that date.',
  });
  const node = h('fieldset', { class: 'expiry' }, h('legend', {}, 'Expires'), h('div', { class: 'choices' }, options), dateField);
  return {
    node,
    expires() {
      const chosen = (radios.find((r) => r.checked) || {}).value;
      const now = new Date();
      if (chosen === 'never') return 0;
      if (chosen !== 'date') {
        const days = Number(chosen);
        return Math.floor(now.getTime() / 1000) + days * SECONDS.DAY;
      }
      const at = parseIsoDate(date.value, { hours: now.getHours(), minutes: now.getMinutes(), seconds: now.getSeconds() });
      if (!at) {
        date.focus();
        throw new Error('Choose an expiry date.');
      }
      const secs = Math.floor(at.getTime() / 1000);
      const nowSecs = Math.floor(now.getTime() / 1000);
      if (secs <= nowSecs) throw new Error('The expiry date must be in the future.');
      if (secs > nowSecs + cap * SECONDS.DAY + SECONDS.HOUR) {
        throw new Error(maxDays ? `Tokens may live at most ${cap} days here.` : 'Tokens may live at most two years.');
      }
      // A daylight-saving change can push "same time of day" an hour past the limit.
      return Math.min(secs, nowSecs + cap * SECONDS.DAY);
    },
  };
}

/**
 * Opens the create dialog. opts: title, withName, withAdmin, maxDays (org cap), intro,
 * create({name, description, expires, admin}) → {tokenValue}. Shows the value once on success.
 */
export async function createTokenDialog({ title = 'Create token', withName = false, withAdmin = false, maxDays = 0, intro, create }) {
  const name = withName
    ? h('input', { type: 'text', class: 'input', required: true, maxlength: '40', pattern: '[A-Za-z0-9_\\-]{1,40}', autocomplete: 'off', spellcheck: 'false' })
    : null;
  const description = h('input', { type: 'text', class: 'input', maxlength: '1024', autocomplete: 'off' });
  const expiry = expiryPicker({ maxDays });
  const adminBox = withAdmin ? checkbox('Admin token', {}, { hint: 'Has an organization admin’s rights in this organization.' }) : null;

  const created = await formDialog({
    title,
    intro,
    submitLabel: 'Create token',
    fields: [
      name ? field('Name', name, { hint: '1–40 letters, digits, - or _. Names are never reused in an organization.' }) : null,
      field('Description', description, { hint: withName ? 'Optional.' : 'What is this token for? For example “CI runner”.' }),
      expiry.node,
      adminBox ? adminBox.node : null,
    ],
    onSubmit: async () => {
      const body = { description: description.value.trim(), expires: expiry.expires() };
      if (name) body.name = name.value.trim();
      if (adminBox) body.admin = adminBox.input.checked;
      const res = await create(body);
      return { ...res, expires: body.expires, label: body.name || body.description };
    },
  });
  if (created && created.tokenValue) await showTokenValue(created);
  return created;
}

/** The one time a token's value is shown: a read-only field, a Copy button and a warning. */
export function showTokenValue({ tokenValue, expires }) {
  const value = h('input', { type: 'text', class: 'input mono token-value', readonly: true, value: tokenValue, spellcheck: 'false', autocomplete: 'off' });
  const status = h('p', { class: 'copy-status', role: 'status', 'aria-live': 'polite' });
  const copy = button('Copy', null, { variant: 'primary', 'data-autofocus': true });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(tokenValue);
      status.textContent = 'Copied to the clipboard.';
    } catch {
      value.focus();
      value.select();
      status.textContent = 'Copying was not allowed here: the value is selected, press Ctrl+C (⌘C) to copy it.';
    }
  });
  value.addEventListener('focus', () => value.select());
  const content = h(
    'div',
    { class: 'token-reveal' },
    h('p', { class: 'alert alert-warning' }, h('strong', {}, 'Copy this token now. '), 'You will not see this value again: Tessera keeps only a hash of it.'),
    field('Token value', value),
    h('div', { class: 'copy-row' }, copy, status),
    h('p', { class: 'hint' }, expires ? `It expires ${formatDateTime(new Date(expires * 1000))}.` : 'It never expires; revoke it when it is no longer needed.'),
  );
  return infoDialog({
    title: 'Token created',
    content,
    closeLabel: 'Done',
    onClose: () => (value.value = ''),
  });
}
