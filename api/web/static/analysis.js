/* The load-growth analysis page (/analysis): draws the figures the server put in #analysis-data
 * with Apache ECharts (canvas renderer; no inline handlers, so the strict CSP holds). Every name
 * shown comes from the server already translated; tooltips render them as text.
 */
(function () {
  'use strict';

  var el = document.getElementById('analysis-data');
  if (!el || !window.echarts) { return; }
  var d = JSON.parse(el.textContent);
  var T = d.text;
  var charts = [];

  function chart(id, option) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var c = window.echarts.init(node, null, { renderer: 'canvas' });
    c.setOption(Object.assign({ animation: false, tooltip: { trigger: 'axis', renderMode: 'richText' },
      grid: { left: 56, right: 40, top: 40, bottom: 64 } }, option));
    node.setAttribute('data-rendered', 'true');
    charts.push(c);
  }

  var empty = { text: T.empty, left: 'center', top: 'middle', textStyle: { color: '#888', fontSize: 14 } };

  chart('chart-months', d.months.length ? {
    legend: { bottom: 0, data: [T.applied, T.energized] },
    xAxis: { type: 'category', data: d.months },
    yAxis: { type: 'value', name: 'kW' },
    series: [{ name: T.applied, type: 'bar', data: d.applied },
             { name: T.energized, type: 'bar', data: d.energized }]
  } : { title: empty });

  chart('chart-growth', d.months.length ? {
    legend: { bottom: 0, data: [T.applied, T.lastYear, T.growth] },
    xAxis: { type: 'category', data: d.months },
    yAxis: [{ type: 'value', name: 'kW' }, { type: 'value', name: '%' }],
    series: [{ name: T.applied, type: 'line', data: d.applied },
             { name: T.lastYear, type: 'line', data: d.appliedLastYear, lineStyle: { type: 'dashed' } },
             { name: T.growth, type: 'bar', yAxisIndex: 1, data: d.growth }]
  } : { title: empty });

  chart('chart-density', {
    xAxis: { type: 'category', data: d.areas },
    yAxis: { type: 'value', name: 'kW/km²' },
    series: [{ name: T.density, type: 'bar', data: d.density }]
  });

  chart('chart-split', (d.voltage.length || d.category.length) ? {
    tooltip: { trigger: 'item', renderMode: 'richText' },
    title: [{ text: T.voltage, left: '25%', textAlign: 'center', textStyle: { fontSize: 13 } },
            { text: T.category, left: '75%', textAlign: 'center', textStyle: { fontSize: 13 } }],
    series: [{ name: T.voltage, type: 'pie', radius: '55%', center: ['25%', '55%'], data: d.voltage },
             { name: T.category, type: 'pie', radius: '55%', center: ['75%', '55%'], data: d.category }]
  } : { title: empty });

  window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });
}());
