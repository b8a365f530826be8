/* The auditor's pages: time travel through a case's history, replay, and the waiting heatmap.
 *
 * History page: each timeline entry is an event; selecting one fetches the case as of that event
 * (`/cases/<id>/as-of/<seq>.json`: diagram marks as data, the panels as server-rendered HTML) and
 * redraws the path on bpmn-js's navigated viewer with the same markers as the case page. ◀ ▶ and
 * the arrow keys step through the listed (filtered) events. The replay button POSTs with the CSRF
 * token and shows the verdict. KPI page: colours each task of the diagram by its waiting time.
 */
(function () {
  'use strict';

  var badge = window.YekuoMarks.badge;

  function json(url, opts) {
    return fetch(url, Object.assign({ credentials: 'same-origin', headers: { 'Accept': 'application/json' } }, opts || {}))
      .then(function (res) { return res.json().then(function (body) { if (!res.ok) throw body; return body; }); });
  }

  // -- history and time travel ------------------------------------------------------------------
  function timeTravel(cfg) {
    var T = cfg.text;
    var tabsEl = document.getElementById('diagram-tabs');
    var statusEl = document.getElementById('diagram-status');
    var canvasEl = document.getElementById('canvas');
    var panel = document.getElementById('asof-panel');
    var position = document.getElementById('position');
    var buttons = Array.prototype.slice.call(document.querySelectorAll('.tt-ev'));
    var seqs = buttons.map(function (b) { return parseInt(b.getAttribute('data-seq'), 10); });
    var xmls = {};          // process id -> BPMN XML (sent once)
    var state = null;       // the as-of answer shown
    var tab = null;         // process id shown
    var drawnXml = null;
    var index = -1;
    var pending = 0;
    var viewer = typeof window.BpmnJS !== 'undefined' ? new window.BpmnJS({ container: canvasEl }) : null;
    if (!viewer) statusEl.textContent = T.loadFailed;

    function draw(seq) {
      if (!viewer || !state) return Promise.resolve();
      var d = state.processes.filter(function (p) { return p.process === tab; })[0] || state.processes[0];
      if (!d) return Promise.resolve();
      tab = d.process;
      Array.prototype.forEach.call(tabsEl.children, function (b) {
        var on = b.getAttribute('data-process') === tab;
        b.classList.toggle('active', on);
        b.setAttribute('aria-selected', on ? 'true' : 'false');
      });
      canvasEl.removeAttribute('data-ready');
      var xml = xmls[d.process];
      var ready = xml === drawnXml ? Promise.resolve(false) : viewer.importXML(xml).then(function () { drawnXml = xml; return true; });
      return ready.then(function (fresh) {
        var focus = state.focus && state.focus.process === d.process ? state.focus.element : null;
        if (!zoomTo(focus) && fresh) viewer.get('canvas').zoom('fit-viewport', 'auto');
        var shown = window.YekuoMarks.decorate(viewer, d, T);
        statusEl.hidden = true;
        window.yekuoDiagram = { process: d.process, seq: seq, shown: shown, focus: focus, scale: viewer.get('canvas').zoom() };
        canvasEl.setAttribute('data-focus', focus || '');
        canvasEl.setAttribute('data-ready', d.process + ':' + seq);
      }).catch(function (err) {
        statusEl.hidden = false;
        statusEl.textContent = T.loadFailed + ' ' + (err && err.message ? err.message : '');
      });
    }

    // Labels are readable at scale 1: centre the active element there instead of fitting the whole process.
    function zoomTo(id) {
      var el = id ? viewer.get('elementRegistry').get(id) : null;
      if (!el) return false;
      var canvas = viewer.get('canvas');
      var outer = canvas.viewbox().outer;
      canvas.viewbox({ x: el.x + el.width / 2 - outer.width / 2, y: el.y + el.height / 2 - outer.height / 2,
                       width: outer.width, height: outer.height });
      return true;
    }

    function tabs() {
      tabsEl.innerHTML = '';
      state.processes.forEach(function (d) {
        var b = document.createElement('button');
        b.type = 'button';
        b.className = 'tab';
        b.setAttribute('role', 'tab');
        b.setAttribute('data-process', d.process);
        b.textContent = d.name;
        if (d.active.length) { var dot = document.createElement('span'); dot.className = 'tab-dot'; b.appendChild(dot); }
        b.addEventListener('click', function () { tab = d.process; draw(state.seq); });
        tabsEl.appendChild(b);
      });
    }

    function select(i) {
      if (i < 0 || i >= seqs.length) return;
      index = i;
      var seq = seqs[i];
      buttons.forEach(function (b, j) {
        b.classList.toggle('selected', j === i);
        b.setAttribute('aria-current', j === i ? 'true' : 'false');
      });
      buttons[i].scrollIntoView({ block: 'nearest' });
      document.getElementById('prev').disabled = i === 0;
      document.getElementById('next').disabled = i === seqs.length - 1;
      var ticket = ++pending;
      panel.setAttribute('aria-busy', 'true');
      var url = cfg.asOfUrl + seq + '.json?have=' + encodeURIComponent(Object.keys(xmls).join(','));
      return json(url).then(function (body) {
        if (ticket !== pending) return;
        body.processes.forEach(function (p) { if (p.xml) xmls[p.process] = p.xml; });
        state = body;
        if (body.focus) tab = body.focus.process;  // follow the active task into a called process
        position.textContent = T.position.replace('%(seq)s', body.seq).replace('%(last)s', body.last_seq);
        position.setAttribute('data-seq', body.seq);
        // server-rendered and escaped; sanitised as well, so a slip in a template cannot run script
        if (!window.DOMPurify) throw { error: { message: T.loadFailed } };
        panel.replaceChildren(window.DOMPurify.sanitize(body.panel, { RETURN_DOM_FRAGMENT: true }));
        panel.setAttribute('data-seq', body.seq);
        panel.removeAttribute('aria-busy');
        tabs();
        if (window.history.replaceState) {
          var u = new URL(window.location.href);
          u.searchParams.set('seq', body.seq);
          window.history.replaceState(null, '', u.toString());
        }
        return draw(body.seq);
      }).catch(function (err) {
        panel.removeAttribute('aria-busy');
        panel.textContent = (err && err.error && err.error.message) || T.loadFailed;
      });
    }

    buttons.forEach(function (b, i) { b.addEventListener('click', function () { select(i); }); });
    document.getElementById('prev').addEventListener('click', function () { select(index - 1); });
    document.getElementById('next').addEventListener('click', function () { select(index + 1); });
    document.getElementById('fit').addEventListener('click', function () { if (viewer) viewer.get('canvas').zoom('fit-viewport', 'auto'); });
    document.addEventListener('keydown', function (e) {
      var tag = (e.target && e.target.tagName) || '';
      if (/INPUT|SELECT|TEXTAREA/.test(tag) || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === 'ArrowLeft') { e.preventDefault(); select(index - 1); }
      if (e.key === 'ArrowRight') { e.preventDefault(); select(index + 1); }
    });

    var replayBtn = document.getElementById('replay');
    var report = document.getElementById('replay-report');
    replayBtn.addEventListener('click', function () {
      replayBtn.disabled = true;
      report.hidden = false;
      report.className = 'alert alert-info';
      report.textContent = T.replaying;
      json(cfg.replayUrl, { method: 'POST', headers: { 'Accept': 'application/json', 'X-CSRF-Token': cfg.csrf } })
        .then(function (body) {
          report.className = 'alert ' + (body.ok ? 'alert-success' : 'alert-error');
          report.setAttribute('data-ok', body.ok ? 'true' : 'false');
          report.textContent = body.message;
          if (body.link) {
            var a = document.createElement('a');
            a.href = body.link;
            a.textContent = ' ' + T.showEvent + ' ›';
            a.setAttribute('data-testid', 'divergence-link');
            report.appendChild(a);
          }
        })
        .catch(function (err) {
          report.className = 'alert alert-error';
          report.textContent = (err && err.error && err.error.message) || T.replayFailed;
        })
        .then(function () { replayBtn.disabled = false; });
    });

    if (!seqs.length) { statusEl.textContent = ''; return; }
    var start = seqs.indexOf(cfg.seq);
    select(start >= 0 ? start : seqs.length - 1);
  }

  // -- the waiting heatmap ----------------------------------------------------------------------
  var HEAT = ['#fff5e6', '#ffe0b2', '#ffb74d', '#fb8c00', '#e65100'];

  function heatmap(cfg) {
    var el = document.getElementById('heat-canvas');
    var statusEl = document.getElementById('heat-status');
    var tabsEl = document.getElementById('heat-tabs');
    if (!cfg.processes || !cfg.processes.length) return;
    if (typeof window.BpmnJS === 'undefined') { statusEl.textContent = cfg.text.loadFailed; return; }
    var viewer = new window.BpmnJS({ container: el });
    var top = 0;
    cfg.elements.forEach(function (h) { top = Math.max(top, h.total_hours); });

    function show(index) {
      var d = cfg.processes[index];
      Array.prototype.forEach.call(tabsEl.children, function (b, i) { b.classList.toggle('active', i === index); });
      el.removeAttribute('data-ready');
      return viewer.importXML(d.xml).then(function () {
        viewer.get('canvas').zoom('fit-viewport', 'auto');
        var registry = viewer.get('elementRegistry');
        var overlays = viewer.get('overlays');
        var painted = {};
        cfg.elements.forEach(function (h) {
          var shape = h.process === d.process && registry.get(h.element);
          if (!shape) return;
          var level = top ? Math.min(4, Math.floor(h.total_hours / top * 5)) : 0;
          var rect = registry.getGraphics(shape).querySelector('.djs-visual > :first-child');
          if (rect) rect.style.fill = HEAT[level];
          painted[h.element] = level;
          overlays.add(h.element, 'yk-heat', { position: { bottom: 4, left: 4 },
            html: badge('yk-badge-heat heat-' + level, cfg.text.hours.replace('%(h)s', h.avg_hours) + ' · ' +
                        cfg.text.times.replace('%(n)s', h.count)) });
        });
        statusEl.hidden = true;
        window.yekuoHeat = { process: d.process, painted: painted };
        el.setAttribute('data-ready', d.process);
      }).catch(function (err) { statusEl.textContent = cfg.text.loadFailed + ' ' + (err && err.message ? err.message : ''); });
    }

    cfg.processes.forEach(function (d, i) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'tab';
      b.setAttribute('role', 'tab');
      b.setAttribute('data-process', d.process);
      b.textContent = d.name;
      b.addEventListener('click', function () { show(i); });
      tabsEl.appendChild(b);
    });
    // open on the diagram where the most waiting accumulated
    var sums = cfg.processes.map(function (d) {
      return cfg.elements.reduce(function (n, h) { return n + (h.process === d.process ? h.total_hours : 0); }, 0);
    });
    show(sums.indexOf(Math.max.apply(null, sums)));
  }

  var h = document.getElementById('audit-config');
  if (h) timeTravel(JSON.parse(h.textContent));
  var k = document.getElementById('heat-config');
  if (k) heatmap(JSON.parse(k.textContent));
})();
