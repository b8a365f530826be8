/* The case's path on a bpmn-js diagram, shared by the case page and the auditor's time travel.
 *
 * Markers: yk-done (finished, with a ✓ / ✓×n count), yk-active (to do / running, optionally a
 * link), yk-waiting (timer, message, join), yk-failed, and yk-flow on the sequence flows taken.
 * `decorate` first removes the marks it placed before, so one viewer can show several moments.
 */
(function () {
  'use strict';

  var MARKERS = ['yk-done', 'yk-active', 'yk-waiting', 'yk-failed', 'yk-flow'];

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

  /* d: {completed: {id: n}, flows: {id: n}, active: [id], waiting: [id], failed: [id], links?: {id: url}};
   * T: {times, active, failed}. Returns what was drawn (ids per kind, counts) for tests and the page. */
  function decorate(viewer, d, T) {
    var canvas = viewer.get('canvas');
    var overlays = viewer.get('overlays');
    var registry = viewer.get('elementRegistry');
    var shown = { done: [], active: [], waiting: [], failed: [], flows: [], counts: {} };
    overlays.remove({ type: 'yk-count' });
    overlays.remove({ type: 'yk-state' });
    registry.getAll().forEach(function (el) {
      MARKERS.forEach(function (m) { canvas.removeMarker(el.id, m); });
    });

    Object.keys(d.flows).forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, 'yk-flow'); shown.flows.push(id); }
    });
    Object.keys(d.completed).forEach(function (id) {
      var el = registry.get(id);
      if (!el) return;
      var n = d.completed[id];
      canvas.addMarker(id, 'yk-done');
      shown.done.push(id);
      shown.counts[id] = n;
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
      if (!registry.get(id)) return;
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

  window.YekuoMarks = { decorate: decorate, badge: badge };
}());
