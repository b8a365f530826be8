/* Migration of running cases: choose (ticked / filter / all), dry run, migrate, revert — all through
 * the REST API with the page's session and CSRF token. */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('migrate-config').textContent);
  var T = cfg.text || {};
  var statusEl = document.getElementById('mig-status');
  var migrateBtn = document.getElementById('migrate');
  var resultsCard = document.getElementById('results-card');
  var resultsEl = document.getElementById('results');

  function say(text, kind) {
    statusEl.hidden = !text;
    statusEl.className = 'alert alert-' + (kind || 'info');
    statusEl.textContent = text || '';
  }

  function post(url, body) {
    return fetch(url, { method: 'POST', credentials: 'same-origin', body: body ? JSON.stringify(body) : undefined,
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': cfg.csrf } })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (d) { return { status: r.status, data: d }; }); });
  }

  function mode() { return document.querySelector('input[name="mode"]:checked').value; }

  function request() {
    var body = { key: cfg.key, from_version: cfg.from, to_version: cfg.to, note: document.getElementById('mig-note').value };
    var m = mode();
    if (m === 'ids') {
      var ids = Array.prototype.map.call(document.querySelectorAll('.tick:checked'), function (b) { return parseInt(b.value, 10); });
      if (!ids.length) { say(T.chooseSome, 'error'); return null; }
      body.instance_ids = ids;
    } else if (m === 'filter') {
      var f = {};
      var step = document.getElementById('f-step').value, st = document.getElementById('f-status').value, q = document.getElementById('f-q').value.trim();
      if (step) f.at_step = step;
      if (st) f.status = st;
      if (q) f.q = q;
      body.filter = f;
    } else {
      body.all = true;
    }
    return body;
  }

  function failed(r) {
    var e = (r.data && r.data.error) || {};
    say(T.failed + ' ' + (e.message || r.status) + (e.details ? ' ' + JSON.stringify(e.details) : ''), 'error');
  }

  document.getElementById('tick-all').addEventListener('change', function (ev) {
    document.querySelectorAll('.tick').forEach(function (b) { b.checked = ev.target.checked; });
  });

  document.getElementById('dry-run').addEventListener('click', function () {
    var body = request();
    if (!body) return;
    document.querySelectorAll('.verdict').forEach(function (td) { td.textContent = ''; td.className = 'verdict'; });
    post(cfg.checkUrl, body).then(function (r) {
      if (r.status !== 200) { failed(r); return; }
      r.data.items.forEach(function (it) {
        var td = document.querySelector('[data-testid="verdict-' + it.instance_id + '"]');
        if (!td) return;
        td.className = 'verdict ' + (it.can_migrate ? 'verdict-ok' : 'verdict-no');
        td.textContent = it.can_migrate ? T.can : T.cannot + '：' + it.reasons.join('；');
      });
      say(T.summary.replace('%(a)s', r.data.movable).replace('%(b)s', r.data.blocked), r.data.blocked ? 'info' : 'success');
      migrateBtn.disabled = !r.data.movable;
      window.yekuoDryRun = r.data;
    }).catch(function () { say(T.network, 'error'); });
  });

  function revertButton(id) {
    var b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn btn-sm btn-ghost';
    b.textContent = T.revert;
    b.setAttribute('data-testid', 'revert-' + id);
    b.addEventListener('click', function () {
      b.disabled = true;
      post(cfg.revertUrl.replace('__ID__', id)).then(function (r) {
        if (r.status !== 200) { failed(r); b.disabled = false; return; }
        b.replaceWith(document.createTextNode(T.reverted.replace('%(n)s', r.data.version)));
        refreshCounts([]);
      });
    });
    return b;
  }

  var confirmDialog = document.getElementById('confirm-dialog');
  var pending = null;

  migrateBtn.addEventListener('click', function () {
    // asked first: how many cases move from which version to which
    var body = request();
    if (!body) return;
    var n = window.yekuoDryRun ? window.yekuoDryRun.movable : '';
    document.getElementById('confirm-text').textContent = T.confirm.replace('%(n)s', n)
      .replace('%(a)s', cfg.from).replace('%(b)s', cfg.to);
    pending = body;
    confirmDialog.showModal();
  });
  document.getElementById('confirm-cancel').addEventListener('click', function () { pending = null; confirmDialog.close(); });
  document.getElementById('confirm-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    confirmDialog.close();
    if (pending) run(pending);
    pending = null;
  });

  function refreshCounts(moved) {
    // what the page shows afterwards: moved cases leave the list, each version's count is re-read
    moved.forEach(function (id) {
      var row = document.querySelector('tr[data-id="' + id + '"]');
      if (row) row.remove();
    });
    var left = document.querySelectorAll('.tick').length;
    document.getElementById('all-label').textContent = T.all.replace('%(n)s', left).replace('%(v)s', cfg.from);
    return fetch(cfg.versionsUrl, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (r) { return r.json(); }).then(function (data) {
        (data.items || []).forEach(function (v) {
          var opt = document.querySelector('[data-testid="mig-from"] option[data-version="' + v.version + '"]');
          if (opt) opt.textContent = 'v' + v.version + ' (' + T.running.replace('%(n)s', v.running) + ')';
        });
        window.yekuoCounts = data.items;
      });
  }

  function run(body) {
    migrateBtn.disabled = true;
    post(cfg.migrateUrl, body).then(function (r) {
      if (r.status !== 200) { failed(r); migrateBtn.disabled = false; return; }
      resultsCard.hidden = false;
      resultsEl.textContent = '';
      r.data.items.forEach(function (it) {
        var tr = document.createElement('tr');
        tr.setAttribute('data-testid', 'result-' + it.instance_id);
        var link = document.createElement('a');
        link.href = cfg.caseUrl.replace('__ID__', it.instance_id);
        link.textContent = '#' + it.instance_id;
        var cells = [link, it.migrated ? T.migrated : T.notMigrated, 'v' + it.from_version + ' → v' + it.to_version,
                     it.reasons.join('；'), it.migrated ? revertButton(it.instance_id) : ''];
        cells.forEach(function (c) {
          var td = document.createElement('td');
          if (typeof c === 'string') td.textContent = c; else td.appendChild(c);
          tr.appendChild(td);
        });
        resultsEl.appendChild(tr);
      });
      say(T.done.replace('%(n)s', r.data.migrated), 'success');
      window.yekuoMigrated = r.data;
      return refreshCounts(r.data.items.filter(function (it) { return it.migrated; }).map(function (it) { return it.instance_id; }));
    }).catch(function () { say(T.network, 'error'); migrateBtn.disabled = false; });
  }
})();
