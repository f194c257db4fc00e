// Shared widgets: form fields, segmented radio groups, tables, badges, dialogs, toasts.

import { h, uid } from './dom.js';
import { formatDateTime } from './time.js';

/** A labelled form control: <div.field><label for>…</label><control/><p.hint/></div>. */
export function field(labelText, control, { hint } = {}) {
  if (!control.id) control.id = uid('f');
  const nodes = [h('label', { for: control.id }, labelText), control];
  if (hint) {
    const hintId = uid('hint');
    control.setAttribute('aria-describedby', hintId);
    nodes.push(h('p', { class: 'hint', id: hintId }, hint));
  }
  return h('div', { class: 'field' }, nodes);
}

/** A checkbox with its label beside it. */
export function checkbox(labelText, props = {}, { hint } = {}) {
  const input = h('input', { type: 'checkbox', id: uid('cb'), ...props });
  const hintNode = hint ? h('p', { class: 'hint', id: uid('hint') }, hint) : null;
  if (hintNode) input.setAttribute('aria-describedby', hintNode.id);
  return { input, node: h('div', { class: 'field field-check' }, input, h('label', { for: input.id }, labelText), hintNode) };
}

/**
 * A group of radio buttons drawn as a segmented control.
 * options: [{value, label}]; onChange(value). Returns {node, value(), set(value)}.
 */
export function segmented({ legend, options, value, onChange, hideLegend = false, name = uid('seg') }) {
  const inputs = [];
  const fieldset = h(
    'fieldset',
    { class: 'segmented' },
    h('legend', { class: hideLegend ? 'visually-hidden' : 'segmented-legend' }, legend),
    h(
      'div',
      { class: 'segmented-options' },
      options.map((o) => {
        const input = h('input', { type: 'radio', name, value: o.value, checked: o.value === value, class: 'segment-input' });
        input.addEventListener('change', () => input.checked && onChange && onChange(o.value));
        inputs.push(input);
        return h('label', { class: 'segment' }, input, h('span', {}, o.label));
      }),
    ),
  );
  return {
    node: fieldset,
    value: () => (inputs.find((i) => i.checked) || {}).value,
    set: (v) => inputs.forEach((i) => (i.checked = i.value === v)),
  };
}

export function badge(text, kind = 'neutral') {
  return h('span', { class: `badge badge-${kind}` }, text);
}

/** <time> showing `text`, with the full date and time as its title and machine-readable value. */
export function timeEl(date, text) {
  if (!date) return h('span', { class: 'muted' }, text);
  return h('time', { datetime: date.toISOString(), title: formatDateTime(date) }, text);
}

export function button(label, onClick, { variant = '', ariaLabel, type = 'button', ...rest } = {}) {
  return h('button', { type, class: ['btn', variant && `btn-${variant}`], 'aria-label': ariaLabel, onClick, ...rest }, label);
}

/**
 * A table that turns into stacked cards on narrow screens (each cell carries its column label).
 * columns: [{label, cell(row) → Node|string, className}].
 */
export function dataTable({ caption, columns, rows, empty = 'Nothing here yet.' }) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'data' },
      caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.className }, c.label)))),
      h(
        'tbody',
        {},
        rows.map((row) =>
          h(
            'tr',
            {},
            columns.map((c) => {
              const v = c.cell(row);
              return h('td', { class: c.className, 'data-label': c.label }, v === '' || v === null || v === undefined ? '—' : v);
            }),
          ),
        ),
      ),
    ),
  );
}

/** An error box (role=alert) or null-safe message area. */
export function alertBox(message, kind = 'error') {
  return h('div', { class: `alert alert-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
}

/** The page's heading row; the h1 takes focus after navigation (tabindex=-1). */
export function pageHeader(title, { subtitle, actions = [] } = {}) {
  return h(
    'div',
    { class: 'page-header' },
    h('div', { class: 'page-title' }, h('h1', { tabindex: '-1' }, title), subtitle ? h('p', { class: 'subtitle' }, subtitle) : null),
    actions.length ? h('div', { class: 'page-actions' }, actions) : null,
  );
}

// ---------------------------------------------------------------------------------------------
// Toasts: short confirmations, announced politely.

let toastRegion = null;
export function toast(message) {
  if (!toastRegion || !toastRegion.isConnected) {
    toastRegion = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastRegion);
  }
  const item = h('p', { class: 'toast' }, message);
  toastRegion.append(item);
  setTimeout(() => item.remove(), 5000);
}

/** Closes every open dialog and drops pending toasts (the session ended under them). */
export function dismissAll() {
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  if (toastRegion) toastRegion.replaceChildren();
}

// ---------------------------------------------------------------------------------------------
// Dialogs. Native <dialog> with showModal(): focus is trapped, Escape cancels. Focus goes to the
// first field (or the element marked data-autofocus) and returns to the opener on close.

function returnFocus(opener) {
  if (opener && opener.isConnected && typeof opener.focus === 'function') {
    opener.focus();
    return;
  }
  // The page changed under the dialog (the opener is gone): keep any focus the new page set.
  const active = document.activeElement;
  if (active && active !== document.body && active.isConnected) return;
  const heading = document.querySelector('main h1');
  if (heading) heading.focus();
}

function initialFocus(dialog) {
  const target =
    dialog.querySelector('[data-autofocus]') ||
    dialog.querySelector('input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])') ||
    dialog.querySelector('button:not([disabled])');
  if (target) target.focus();
}

/**
 * A dialog holding a form. fields: nodes (or a function(form) → nodes). onSubmit(form) may be
 * async; it returns the dialog's result (any value but false) or false to stay open; if it throws,
 * the error's message is shown in the dialog. Resolves to the result, or null when cancelled.
 */
export function formDialog({ title, intro, fields = [], submitLabel = 'Save', danger = false, cancelLabel = 'Cancel', focusCancel = false, onSubmit, wide = false }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid('dlg-title');
    let result = null;
    let busy = false;
    const error = h('p', { class: 'form-error', role: 'alert' });
    const submit = h('button', { type: 'submit', class: ['btn', danger ? 'btn-danger' : 'btn-primary'] }, submitLabel);
    const cancel = h('button', { type: 'button', class: 'btn', 'data-autofocus': focusCancel || null }, cancelLabel);
    const form = h('form', { class: 'dialog-form' });
    const body = typeof fields === 'function' ? fields(form) : fields;
    form.append(
      h('h2', { id: titleId, class: 'dialog-title' }, title),
      ...(intro ? [].concat(intro).map((t) => (t instanceof Node ? t : h('p', { class: 'dialog-intro' }, t))) : []),
      ...[].concat(body).filter(Boolean),
      error,
      h('div', { class: 'dialog-actions' }, cancel, submit),
    );
    const dialog = h('dialog', { class: ['dialog', wide && 'dialog-wide'], 'aria-labelledby': titleId }, form);

    cancel.addEventListener('click', () => !busy && dialog.close());
    dialog.addEventListener('cancel', (e) => busy && e.preventDefault());
    dialog.addEventListener('close', () => {
      dialog.remove();
      returnFocus(opener);
      resolve(result);
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (busy) return;
      busy = true;
      error.textContent = '';
      submit.disabled = true;
      form.setAttribute('aria-busy', 'true');
      try {
        const r = await onSubmit(form);
        if (r !== false) {
          result = r === undefined || r === null ? true : r;
          busy = false;
          dialog.close();
          return;
        }
      } catch (err) {
        error.textContent = err && err.message ? err.message : String(err);
      } finally {
        busy = false;
        submit.disabled = false;
        form.removeAttribute('aria-busy');
      }
    });

    document.body.append(dialog);
    dialog.showModal();
    initialFocus(dialog);
  });
}

/** Asks before something irreversible; action() runs inside the dialog (errors shown there). */
export function confirmDialog({ title, message, confirmLabel, action }) {
  return formDialog({ title, intro: message, submitLabel: confirmLabel, danger: true, focusCancel: true, onSubmit: action });
}

/** A dialog with arbitrary content and a single close button. */
export function infoDialog({ title, content, closeLabel = 'Done', onClose }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid('dlg-title');
    const close = h('button', { type: 'button', class: 'btn btn-primary' }, closeLabel);
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': titleId },
      h('div', { class: 'dialog-form' }, h('h2', { id: titleId, class: 'dialog-title' }, title), content, h('div', { class: 'dialog-actions' }, close)),
    );
    close.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      if (onClose) onClose();
      dialog.remove();
      returnFocus(opener);
      resolve();
    });
    document.body.append(dialog);
    dialog.showModal();
    initialFocus(dialog);
  });
}
