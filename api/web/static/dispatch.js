/* The dispatch centre's small page helpers (no library). On the 预约上门 task page a day with free
   capacity in the "free slots" panel can be clicked: it becomes the appointment date in the form. */
(function () {
  'use strict';
  function pick(row) {
    var editor = window.yekuoEditor;
    if (!editor || row.getAttribute('data-remaining') === '0') { return; }
    var date = editor.getEditor('root.appointment_date');
    var mode = editor.getEditor('root.appointment_mode');
    if (mode && !mode.getValue()) { mode.setValue('fixed'); }
    if (date) { date.setValue(row.getAttribute('data-day')); }
    document.querySelectorAll('[data-testid=slot-row].dc-picked').forEach(function (r) { r.classList.remove('dc-picked'); });
    row.classList.add('dc-picked');
  }
  document.addEventListener('click', function (ev) {
    var row = ev.target.closest && ev.target.closest('[data-testid=slot-row]');
    if (row) { pick(row); }
  });
  document.addEventListener('keydown', function (ev) {
    var row = ev.target.closest && ev.target.closest('[data-testid=slot-row]');
    if (row && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); pick(row); }
  });
}());
