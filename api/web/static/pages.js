/* Behaviour every page may use, bound here because the Content-Security-Policy allows no inline
 * handlers: `data-autosubmit` on a select submits its form when changed, `data-print` prints.
 */
(function () {
  'use strict';

  function bind() {
    document.querySelectorAll('[data-autosubmit]').forEach(function (el) {
      el.addEventListener('change', function () {
        if (el.form.requestSubmit) el.form.requestSubmit(); else el.form.submit();
      });
    });
    document.querySelectorAll('[data-print]').forEach(function (el) {
      el.addEventListener('click', function () { window.print(); });
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', bind); else bind();
}());
