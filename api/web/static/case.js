/* The case diagram: bpmn-js's navigated viewer (from node_modules) with the case's path on it.
 *
 * The marks (done with counts, active, waiting, failed, flows taken) come from diagram_marks.js.
 * The bpmn.io watermark (bottom right of the canvas) is left alone: nothing of ours is placed over it.
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
      var shown = window.YekuoMarks.decorate(viewer, d, T);
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
