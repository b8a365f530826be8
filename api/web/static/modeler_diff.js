/* Two versions side by side (bpmn-js navigated viewers): removed and changed elements marked on the
 * older one, added and changed ones on the newer one (sequence flows too); the table lists every
 * change, also those in called processes that have no shape on this diagram, and the form files
 * added, removed or changed. */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('diff-config').textContent);
  var T = cfg.text || {};
  var tbody = document.getElementById('changes');
  if (typeof window.BpmnJS === 'undefined') return;

  function get(url, json) {
    return fetch(url, { credentials: 'same-origin', headers: { 'Accept': json ? 'application/json' : 'application/xml' } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return json ? r.json() : r.text(); });
  }

  function viewer(id, xml) {
    var v = new window.BpmnJS({ container: '#' + id });
    return v.importXML(xml).then(function () { v.get('canvas').zoom('fit-viewport', 'auto'); return v; });
  }

  function mark(v, id, kind) {
    var registry = v.get('elementRegistry');
    if (!registry.get(id)) return false;
    v.get('canvas').addMarker(id, 'yk-diff-' + kind);
    var badge = document.createElement('span');
    badge.className = 'yk-badge yk-diff-badge yk-diff-badge-' + kind;
    badge.textContent = T[kind];
    v.get('overlays').add(id, 'yk-diff', { position: { top: -11, left: -6 }, html: badge });
    return true;
  }

  Promise.all([get(cfg.from.bpmnUrl), get(cfg.to.bpmnUrl), get(cfg.diffUrl, true)]).then(function (res) {
    var diff = res[2];
    return Promise.all([viewer('canvas-from', res[0]), viewer('canvas-to', res[1])]).then(function (vs) {
      var shown = { added: [], removed: [], changed: [] };
      diff.changes.forEach(function (c) {
        var on = false;
        if (c.change === 'removed' || c.change === 'changed') on = mark(vs[0], c.element, c.change) || on;
        if (c.change === 'added' || c.change === 'changed') on = mark(vs[1], c.element, c.change) || on;
        if (on) shown[c.change].push(c.element);
        var tr = document.createElement('tr');
        tr.setAttribute('data-change', c.change);
        tr.setAttribute('data-element', c.element);
        tr.setAttribute('data-kind', c.kind || 'element');
        var what = c.kind === 'form' ? T.form + '：' + c.element
          : (c.kind === 'flow' ? T.flow + '：' : '') + c.name + ' (' + c.element + ')';
        [T[c.change], what, c.process,
         c.fields.length ? T.fields.replace('%(f)s', c.fields.join(', ')) : ''].forEach(function (text, i) {
          var td = document.createElement('td');
          if (i === 0) { var b = document.createElement('span'); b.className = 'lg lg-' + c.change; b.textContent = text; td.appendChild(b); }
          else td.textContent = text;
          tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
      if (!diff.changes.length) {
        var tr = document.createElement('tr');
        var td = document.createElement('td');
        td.colSpan = 4; td.className = 'empty-inline'; td.textContent = T.noChanges;
        tr.appendChild(td); tbody.appendChild(tr);
      }
      window.yekuoDiff = { shown: shown, changes: diff.changes };
      document.getElementById('canvas-to').setAttribute('data-ready', 'true');
    });
  }).catch(function (err) {
    document.getElementById('canvas-to').textContent = T.loadFailed + ' ' + (err && err.message || '');
  });
})();
