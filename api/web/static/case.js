/* The case diagram: bpmn-js's navigated viewer (from node_modules) with the case's path on it.
 *
 * Markers: yk-done (finished), yk-active (to do / running), yk-waiting (timer, message, join),
 * yk-failed, and yk-flow on the sequence flows taken. Overlays carry the counts. The bpmn.io
 * watermark (bottom right of the canvas) is left alone: nothing of ours is placed over it.
 */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('case-config').textContent);
  var T = cfg.text || {};
  var tabsEl = document.getElementById('diagram-tabs');
  var statusEl = document.getElementById('diagram-status');
  var canvasEl = document.getElementById('canvas');
  var processes = [];
  var current = -1;

  if (typeof window.BpmnJS === 'undefined') {
    statusEl.textContent = T.loadFailed;
    return;
  }
  var viewer = new window.BpmnJS({ container: canvasEl });

  function isActivity(element) {
    return /Task$|CallActivity$|SubProcess$/.test(element.type);
  }

  function badge(cls, text, href) {
    var el = document.createElement(href ? 'a' : 'span');
    el.className = 'yk-badge ' + cls;
    el.textContent = text;
    if (href) el.href = href;
    return el;
  }

  function decorate(d) {
    var canvas = viewer.get('canvas');
    var overlays = viewer.get('overlays');
    var registry = viewer.get('elementRegistry');
    var shown = { done: [], active: [], waiting: [], failed: [], flows: [] };

    Object.keys(d.flows).forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, 'yk-flow'); shown.flows.push(id); }
    });
    Object.keys(d.completed).forEach(function (id) {
      var el = registry.get(id);
      if (!el) return;
      var n = d.completed[id];
      canvas.addMarker(id, 'yk-done');
      shown.done.push(id);
      if (isActivity(el) || n > 1) {
        overlays.add(id, 'yk-count', { position: { top: -11, right: 11 },
          html: badge('yk-badge-done', n > 1 ? '✓ ' + T.times.replace('%(n)s', n) : '✓') });
      }
    });
    d.waiting.forEach(function (id) {
      if (!registry.get(id)) return;
      canvas.addMarker(id, 'yk-waiting');
      shown.waiting.push(id);
    });
    d.active.forEach(function (id) {
      var el = registry.get(id);
      if (!el) return;
      canvas.removeMarker(id, 'yk-done');
      canvas.addMarker(id, 'yk-active');
      shown.active.push(id);
      var link = (d.links || {})[id];
      overlays.add(id, 'yk-state', { position: { top: -11, left: -6 },
        html: badge('yk-badge-active', T.active + (link ? ' ›' : ''), link) });
    });
    d.failed.forEach(function (id) {
      if (!registry.get(id)) return;
      canvas.addMarker(id, 'yk-failed');
      shown.failed.push(id);
      overlays.add(id, 'yk-state', { position: { top: -11, left: -6 }, html: badge('yk-badge-failed', T.failed) });
    });
    return shown;
  }

  function show(index) {
    if (index === current) return Promise.resolve();
    current = index;
    var d = processes[index];
    Array.prototype.forEach.call(tabsEl.children, function (b, i) {
      b.classList.toggle('active', i === index);
      b.setAttribute('aria-selected', i === index ? 'true' : 'false');
    });
    canvasEl.removeAttribute('data-ready');
    return viewer.importXML(d.xml).then(function () {
      viewer.get('canvas').zoom('fit-viewport', 'auto');
      var shown = decorate(d);
      statusEl.hidden = true;
      window.yekuoDiagram = { process: d.process, shown: shown };
      canvasEl.setAttribute('data-ready', d.process);
    }).catch(function (err) {
      statusEl.hidden = false;
      statusEl.textContent = T.loadFailed + ' ' + (err && err.message ? err.message : '');
    });
  }

  document.getElementById('fit').addEventListener('click', function () {
    viewer.get('canvas').zoom('fit-viewport', 'auto');
  });

  fetch(cfg.diagramUrl, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
    .then(function (res) { if (!res.ok) throw new Error(res.status); return res.json(); })
    .then(function (body) {
      processes = body.processes || [];
      if (!processes.length) { statusEl.textContent = T.noDiagram; return; }
      processes.forEach(function (d, i) {
        var b = document.createElement('button');
        b.type = 'button';
        b.className = 'tab';
        b.setAttribute('role', 'tab');
        b.setAttribute('data-process', d.process);
        b.textContent = d.name;
        if (d.active.length) {
          var dot = document.createElement('span');
          dot.className = 'tab-dot';
          dot.title = T.active;
          b.appendChild(dot);
        }
        b.addEventListener('click', function () { show(i); });
        tabsEl.appendChild(b);
      });
      return show(0);
    })
    .catch(function () { statusEl.textContent = T.loadFailed; });
})();
