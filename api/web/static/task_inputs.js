/* What a person types and chooses on the task form, beyond plain text fields:
 *  - date and time fields get a flatpickr picker in Beijing time: the person picks or types
 *    "2026-12-03 10:05"; the field holds "2026-12-03T10:05:00+08:00" whatever the computer's time
 *    zone (dates hold "2026-12-03");
 *  - document fields ({ref: "att-…", name}) get an upload control: choose a file or drop it, type
 *    and size checked here (the server checks again), progress shown; the field then holds the
 *    returned reference and file name (read only) with a remove button.
 * task.js calls attach(editor, cfg) when the form is ready and after every change (new array rows).
 */
(function () {
  'use strict';

  var BEIJING_MS = 8 * 3600 * 1000;

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  // a Date whose local fields are the Beijing wall-clock time
  function wallDate(y, mo, d, h, mi) { return new Date(y, mo - 1, d, h || 0, mi || 0, 0, 0); }

  function parseText(text) {
    var m = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T\s]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?\s*$/.exec(text || '');
    if (!m) return undefined;
    var y = +m[1], mo = +m[2], d = +m[3], h = +(m[4] || 0), mi = +(m[5] || 0);
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59) return undefined;
    if (!m[7]) return wallDate(y, mo, d, h, mi);
    var sign = 0, offset = 0;
    if (!/^[Zz]$/.test(m[7])) {
      var z = m[7].replace(':', '');
      sign = z[0] === '-' ? -1 : 1;
      offset = sign * (+z.slice(1, 3) * 60 + +z.slice(3, 5)) * 60000;
    }
    var utc = Date.UTC(y, mo - 1, d, h, mi, +(m[6] || 0)) - offset;
    var bj = new Date(utc + BEIJING_MS);   // read its UTC fields: Beijing wall-clock time
    return wallDate(bj.getUTCFullYear(), bj.getUTCMonth() + 1, bj.getUTCDate(), bj.getUTCHours(), bj.getUTCMinutes());
  }

  function formatDate(date, format, locale) {
    var day = date.getFullYear() + '-' + pad(date.getMonth() + 1) + '-' + pad(date.getDate());
    var time = pad(date.getHours()) + ':' + pad(date.getMinutes());
    if (format === 'BEIJING_ISO') return day + 'T' + time + ':00+08:00';
    if (format === 'Y-m-d H:i') return day + ' ' + time;
    if (format === 'Y-m-d') return day;
    return window.flatpickr.formatDate(date, format, locale);
  }

  function picker(ed, cfg) {
    var input = ed.input;
    var fmt = ed.schema.options.yk_format;
    var withTime = fmt === 'date-time';
    var T = cfg.inputText || {};
    var zh = cfg.lang !== 'en';
    var fp = window.flatpickr(input, {
      locale: zh && window.flatpickr.l10ns.zh ? window.flatpickr.l10ns.zh : 'default',
      enableTime: withTime, time_24hr: true, minuteIncrement: 1, allowInput: true, disableMobile: true,
      altInput: withTime, altFormat: 'Y-m-d H:i', dateFormat: withTime ? 'BEIJING_ISO' : 'Y-m-d',
      parseDate: parseText, formatDate: formatDate
    });
    var shown = fp.altInput || input;
    shown.setAttribute('placeholder', withTime ? (T.pickTime || '2026-12-03 10:05') : (T.pickDate || '2026-12-03'));
    shown.setAttribute('aria-label', ed.schema.title || '');
    shown.setAttribute('data-testid', 'picker-' + ed.path.replace(/^root\./, ''));
    shown.setAttribute('autocomplete', 'off');
    if (!cfg.canAct || ed.schema.readOnly) shown.disabled = true;
    ed.ykPicker = fp;
  }

  // a value set in code (the demo button) reaches the picker too
  function syncPicker(ed) {
    var fp = ed.ykPicker;
    var value = ed.getValue() || '';
    var current = fp.selectedDates.length ? fp.input.value : '';
    if (value === current) return;
    if (value) fp.setDate(value, false); else fp.clear(false);
  }

  // ---------------------------------------------------------------------------------------------
  // uploads

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }

  function allowed(file, up) {
    var name = (file.name || '').toLowerCase();
    var byName = (up.extensions || []).some(function (ext) { return name.slice(-ext.length) === ext; });
    var byType = !file.type || (up.types || []).indexOf(file.type) >= 0;
    return byName && byType;
  }

  function uploader(editor, ed, cfg) {
    var up = cfg.upload || {};
    var T = cfg.inputText || {};
    var path = ed.path;
    var refEd = editor.getEditor(path + '.ref');
    var nameEd = editor.getEditor(path + '.name');
    if (!refEd || !nameEd) return;
    var testid = 'upload-' + path.replace(/^root\./, '');
    var box = el('div', { 'class': 'yk-upload', 'data-testid': testid });
    var drop = el('label', { 'class': 'yk-drop' });
    drop.appendChild(el('span', {}, T.chooseFile || 'Choose a file'));
    var file = el('input', { type: 'file', accept: (up.extensions || []).concat(up.types || []).join(','),
                             'data-testid': testid + '-file' });
    drop.appendChild(file);
    var progress = el('progress', { max: '100', value: '0', hidden: '' });
    var done = el('span', { 'class': 'yk-file', 'data-testid': testid + '-name' });
    var remove = el('button', { type: 'button', 'class': 'btn btn-ghost btn-small', hidden: '',
                                'data-testid': testid + '-remove' }, T.remove || 'Remove');
    var problem = el('p', { 'class': 'yk-upload-error', role: 'alert', hidden: '', 'data-testid': testid + '-error' });
    [drop, progress, done, remove, problem].forEach(function (c) { box.appendChild(c); });
    ed.container.insertBefore(box, ed.container.firstChild.nextSibling);
    [refEd, nameEd].forEach(function (child) { if (child.input) child.input.readOnly = true; });
    ed.ykUpload = box;

    function say(text) { problem.textContent = text || ''; problem.hidden = !text; }

    function show() {
      var ref = refEd.getValue(), name = nameEd.getValue();
      done.textContent = '';
      if (ref) {
        var link = el('a', { href: (up.fileUrl || '').replace('REF', encodeURIComponent(ref)), target: '_blank',
                             rel: 'noopener' }, name || ref);
        done.appendChild(link);
      }
      remove.hidden = !ref || !cfg.canAct;
      drop.hidden = !!ref || !cfg.canAct;
    }
    ed.ykShow = show;

    function send(f) {
      say('');
      if (!allowed(f, up)) { say(T.wrongType); return; }
      if (f.size > up.maxBytes) { say(T.tooLarge); return; }
      var body = new FormData();
      body.append('file', f, f.name);
      var xhr = new XMLHttpRequest();
      xhr.open('POST', up.url);
      xhr.setRequestHeader('X-CSRF-Token', cfg.csrf);
      xhr.setRequestHeader('Accept', 'application/json');
      progress.hidden = false;
      progress.value = 0;
      xhr.upload.addEventListener('progress', function (e) {
        if (e.lengthComputable) progress.value = Math.round(100 * e.loaded / e.total);
      });
      xhr.addEventListener('load', function () {
        progress.hidden = true;
        var answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = {}; }
        if (xhr.status === 201 && answer.ref) {
          refEd.setValue(answer.ref);
          nameEd.setValue(answer.name);
          editor.onChange();
          show();
        } else {
          say((answer.error && answer.error.message) || T.uploadFailed);
        }
        file.value = '';
      });
      xhr.addEventListener('error', function () { progress.hidden = true; say(T.uploadFailed); });
      xhr.send(body);
    }

    file.addEventListener('change', function () { if (file.files && file.files[0]) send(file.files[0]); });
    ['dragenter', 'dragover'].forEach(function (type) {
      drop.addEventListener(type, function (e) { e.preventDefault(); drop.classList.add('yk-drag'); });
    });
    drop.addEventListener('dragleave', function () { drop.classList.remove('yk-drag'); });
    drop.addEventListener('drop', function (e) {
      e.preventDefault();
      drop.classList.remove('yk-drag');
      if (cfg.canAct && e.dataTransfer && e.dataTransfer.files[0]) send(e.dataTransfer.files[0]);
    });
    remove.addEventListener('click', function () {
      refEd.setValue('');
      nameEd.setValue('');
      editor.onChange();
      show();
    });
    show();
  }

  function attach(editor, cfg) {
    Object.keys(editor.editors || {}).forEach(function (path) {
      var ed = editor.editors[path];
      var opts = (ed && ed.schema && ed.schema.options) || {};
      if (!ed || !ed.container) return;
      var fmt = opts.yk_format;
      if ((fmt === 'date' || fmt === 'date-time' || fmt === 'date-not-past') && ed.input && window.flatpickr) {
        if (!ed.ykPicker) picker(ed, cfg); else syncPicker(ed);
      }
      if (opts.yk_upload) {
        if (!ed.ykUpload) uploader(editor, ed, cfg); else ed.ykShow();
      }
    });
  }

  window.yekuoTaskInputs = { attach: attach, parse: parseText };
})();
