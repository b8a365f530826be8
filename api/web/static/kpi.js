/* The KPI dashboard's charts: Apache ECharts draws each from the option the server built
 * (`kpi_pages.bar_option`: y axis from zero, percentages to 100, a label on every bar, '-' for a
 * month without data). This file adds only the unit to labels and axes, draws, and redraws on resize.
 * The charts are kept on `window.yekuoCharts` (name -> ECharts instance) for the browser tests.
 */
(function () {
  'use strict';

  var source = document.getElementById('kpi-charts');
  if (!source) return;
  var options = JSON.parse(source.textContent);
  var charts = {};
  window.yekuoCharts = charts;

  Array.prototype.forEach.call(document.querySelectorAll('.echart[data-chart]'), function (el) {
    var name = el.getAttribute('data-chart');
    var option = options[name];
    if (!option) return;
    var unit = (option.yekuo && option.yekuo.unit) || '';
    delete option.yekuo;
    if (!option.xAxis.data.length || !window.echarts) {
      el.classList.add('echart-empty');
      el.textContent = el.getAttribute(window.echarts ? 'data-empty' : 'data-failed');
      el.setAttribute('data-ready', 'empty');
      return;
    }
    if (unit) {
      option.series[0].label.formatter = '{c}' + unit;
      option.yAxis.axisLabel = { formatter: '{value}' + unit };
    }
    var chart = window.echarts.init(el, null, { renderer: 'svg' });
    chart.setOption(option);
    charts[name] = chart;
    el.setAttribute('data-ready', 'true');
  });

  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (name) { charts[name].resize(); });
  });
})();
