/* The task form: the task's JSON Schema + UI schema rendered by @json-editor/json-editor.
 *
 * The schema is handed to json-editor with three adaptations, none of which renders anything:
 *  - the UI schema (ui:order, ui:widget, ui:help, ui:readonly) becomes json-editor options;
 *  - conditional rules (allOf / if / then / else) are left to the server, which checks the full
 *    schema on submit and answers with errors per field (json-editor would merge them into the
 *    parent and pick the wrong editor);
 *  - draft 2020 keywords json-editor reads the draft-04 way (numeric exclusiveMinimum) are mapped.
 * Date and time fields get flatpickr pickers and document fields an upload control
 * (static/task_inputs.js). Client-side checks (required, lengths, patterns, ranges, mobile and date formats) show the
 * form's own Chinese messages (`errorMessage`) or the zh_CN language pack below; server-side
 * errors are painted on the same fields and stay until that field is changed.
 */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('task-config').textContent);
  var T = cfg.text || {};
  var zh = cfg.lang !== 'en';
  var formEl = document.getElementById('form');
  var submitBtn = document.getElementById('submit');
  var demoBtn = document.getElementById('fill-demo');
  var statusEl = document.getElementById('form-status');
  var summaryEl = document.getElementById('form-errors');

  // ---------------------------------------------------------------------------------------------
  // json-editor language pack: every message a staff member can meet, in Chinese

  var ZH = {
    error_notset: '此项为必填项',
    error_notempty: '此项为必填项',
    error_enum: '请从选项中选择',
    error_const: '此项必须为指定值',
    error_anyOf: '不符合任一允许的格式',
    error_oneOf: '必须且只能符合一种允许的格式（当前符合 {{0}} 种）',
    error_not: '不允许该值',
    error_type_union: '值的类型不正确',
    error_type: '值的类型应为 {{0}}',
    error_disallow_union: '值的类型不允许',
    error_disallow: '值的类型不能是 {{0}}',
    error_multipleOf: '必须是 {{0}} 的倍数',
    error_maximum_excl: '必须小于 {{0}}',
    error_maximum_incl: '不能大于 {{0}}',
    error_minimum_excl: '必须大于 {{0}}',
    error_minimum_incl: '不能小于 {{0}}',
    error_maxLength: '最多 {{0}} 个字符',
    error_contains: '没有符合要求的项',
    error_minContains: '符合要求的项有 {{0}} 个，少于 {{1}} 个',
    error_maxContains: '符合要求的项有 {{0}} 个，多于 {{1}} 个',
    error_minLength: '至少 {{0}} 个字符',
    error_pattern: '格式不正确',
    error_additionalItems: '不允许增加更多项',
    error_maxItems: '最多选择 {{0}} 项',
    error_minItems: '至少选择 {{0}} 项',
    error_uniqueItems: '不能有重复项',
    error_maxProperties: '最多 {{0}} 个属性',
    error_minProperties: '至少 {{0}} 个属性',
    error_required: '请填写：{{0}}',
    error_additional_properties: '不允许的字段：{{0}}',
    error_property_names_exceeds_maxlength: '字段名 {{0}} 过长',
    error_property_names_enum_mismatch: '字段名 {{0}} 不在允许范围内',
    error_property_names_const_mismatch: '字段名 {{0}} 不符合要求',
    error_property_names_pattern_mismatch: '字段名 {{0}} 格式不正确',
    error_property_names_false: '不允许字段名 {{0}}',
    error_property_names_maxlength: '字段名 {{0}} 长度限制无效',
    error_property_names_enum: '字段名 {{0}} 选项无效',
    error_property_names_pattern: '字段名 {{0}} 格式无效',
    error_property_names_unsupported: '不支持的字段名规则 {{0}}',
    error_dependency: '需要同时填写 {{0}}',
    error_date: '日期格式应为 {{0}}',
    error_time: '时间格式应为 {{0}}',
    error_datetime_local: '日期时间格式应为 {{0}}',
    error_invalid_epoch: '日期须晚于 1970年1月1日',
    error_ipv4: '请输入有效的 IPv4 地址',
    error_ipv6: '请输入有效的 IPv6 地址',
    error_hostname: '主机名格式不正确',
    upload_max_size: '文件过大，最大为 ',
    upload_wrong_file_format: '文件格式不正确，允许的格式：',
    button_save: '保存',
    button_copy: '复制',
    button_cancel: '取消',
    button_add: '添加',
    button_delete_all: '全部',
    button_delete_all_title: '全部删除',
    button_delete_last: '最后一个{{0}}',
    button_delete_last_title: '删除最后一个{{0}}',
    button_add_row_title: '添加{{0}}',
    button_move_down_title: '下移',
    button_move_up_title: '上移',
    button_properties: '属性',
    button_object_properties: '对象属性',
    button_copy_row_title: '复制{{0}}',
    button_delete_row_title: '删除{{0}}',
    button_delete_row_title_short: '删除',
    button_copy_row_title_short: '复制',
    button_collapse: '收起',
    button_expand: '展开',
    button_edit_json: '编辑 JSON',
    button_upload: '上传',
    flatpickr_toggle_button: '选择',
    flatpickr_clear_button: '清除',
    choices_placeholder_text: '输入以添加',
    default_array_item_title: '项',
    button_delete_node_warning: '确定删除这一项吗？',
    table_controls: '操作',
    paste_max_length_reached: '粘贴的内容超过 {{0}} 个字符，已截断。'
  };

  // form keyword (ajv-errors style `errorMessage`) -> json-editor message key
  var MESSAGE_KEYS = {
    pattern: ['error_pattern'], enum: ['error_enum'], const: ['error_const'], type: ['error_type'],
    minLength: ['error_minLength'], maxLength: ['error_maxLength'],
    minItems: ['error_minItems'], maxItems: ['error_maxItems'], uniqueItems: ['error_uniqueItems'],
    minimum: ['error_minimum_incl'], exclusiveMinimum: ['error_minimum_excl'],
    maximum: ['error_maximum_incl'], exclusiveMaximum: ['error_maximum_excl'],
    multipleOf: ['error_multipleOf']
  };

  var FORMATS = {
    'cn-mobile': function (v) { return /^1[3-9]\d{9}$/.test(v); },
    'date-not-past': function (v) { return /^\d{4}-\d{2}-\d{2}$/.test(v) && !isNaN(Date.parse(v)) && v >= cfg.today; },
    'date': function (v) { return /^\d{4}-\d{2}-\d{2}$/.test(v) && !isNaN(Date.parse(v)); },
    'date-time': function (v) {
      return /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(v) && !isNaN(Date.parse(v));
    }
  };
  var FORMAT_FALLBACK = {
    'cn-mobile': zh ? '请输入11位手机号码' : 'Enter an 11-digit mobile number',
    'date-not-past': zh ? '请输入今天或以后的日期' : 'Enter today or a later date',
    'date': zh ? '请输入日期，格式为 YYYY-MM-DD' : 'Enter a date as YYYY-MM-DD',
    'date-time': zh ? '请输入时间，格式如 2027-03-01T09:00:00+08:00' : 'Enter a time like 2027-03-01T09:00:00+08:00'
  };
  var REQUIRED = zh ? '此项为必填项' : 'This field is required';

  // ---------------------------------------------------------------------------------------------
  // schema + UI schema -> json-editor schema

  var DROP = ['$schema', '$id', 'examples', 'allOf', 'anyOf', 'oneOf', 'if', 'then', 'else', 'not',
              'dependentRequired', 'dependentSchemas', 'errorMessage'];

  function prepare(schema, ui, required) {
    var s = {};
    Object.keys(schema).forEach(function (k) { if (DROP.indexOf(k) < 0) s[k] = schema[k]; });
    ui = ui || {};
    var opts = Object.assign({}, schema.options || {});
    s.options = opts;
    opts.yk_format = schema.format;
    opts.yk_required = !!required;
    opts.yk_message = schema.errorMessage || null;

    if (typeof schema.exclusiveMinimum === 'number' && typeof schema.minimum !== 'number') {
      s.minimum = schema.exclusiveMinimum; s.exclusiveMinimum = true;
    }
    if (typeof schema.exclusiveMaximum === 'number' && typeof schema.maximum !== 'number') {
      s.maximum = schema.exclusiveMaximum; s.exclusiveMaximum = true;
    }
    if (schema.format && ['date', 'date-time', 'checkbox', 'textarea', 'radio'].indexOf(schema.format) < 0) {
      delete s.format;                      // custom formats are checked by our validator below
    }
    if (schema.format === 'date-time' || schema.format === 'date') delete s.format;  // flatpickr (task_inputs.js)

    // messages in the form's own words
    if (zh && schema.errorMessage) {
      var msgs = {};
      Object.keys(schema.errorMessage).forEach(function (kw) {
        (MESSAGE_KEYS[kw] || []).forEach(function (key) { msgs[key] = schema.errorMessage[kw]; });
      });
      opts.error_messages = { zh_CN: Object.assign(msgs, (opts.error_messages || {}).zh_CN || {}) };
    }

    // UI schema
    var widget = ui['ui:widget'];
    if (ui['ui:readonly']) s.readOnly = true;
    if (ui['ui:help'] && !s.description) s.description = ui['ui:help'];
    if (ui['ui:placeholder']) opts.inputAttributes = Object.assign({}, opts.inputAttributes, { placeholder: ui['ui:placeholder'] });
    if (widget === 'hidden') opts.hidden = true;
    if (widget === 'textarea' && s.type === 'string') s.format = 'textarea';
    if (widget === 'radio' && s.enum) { s.format = 'radio'; opts.layout = 'horizontal'; }
    if (widget === 'checkbox' && s.type === 'boolean') s.format = 'checkbox';
    if (widget === 'date' && s.type === 'string' && !schema.format) opts.yk_format = 'date';
    if (s.type === 'object' && schema.properties && schema.properties.ref && schema.properties.name &&
        /att-/.test(schema.properties.ref.pattern || '')) {
      opts.yk_upload = true;                // a document: uploaded in place (task_inputs.js)
    }
    if (s.enum && s.type !== 'array' && s.format !== 'radio') {
      opts.has_placeholder_option = true;
      opts.placeholder_option_text = zh ? '请选择' : 'Choose…';
    }
    if (s.type === 'array' && s.items && s.items.enum && s.uniqueItems) s.format = 'checkbox';

    if (s.type === 'object' && schema.properties) {
      // JSON object key order does not survive the database (PostgreSQL's jsonb sorts keys), so
      // fields follow ui:order, else the required ones in `required` order, then the rest
      var req = schema.required || [];
      var order = ui['ui:order'] || req;
      s.properties = {};
      Object.keys(schema.properties).forEach(function (key) {
        var child = prepare(schema.properties[key], ui[key], req.indexOf(key) >= 0);
        var at = order.indexOf(key);
        child.propertyOrder = at >= 0 ? (at + 1) * 10 : 1000 + Object.keys(s.properties).length;
        s.properties[key] = child;
      });
      s.defaultProperties = Object.keys(schema.properties);
      opts.disable_collapse = true;
      opts.disable_edit_json = true;
      opts.disable_properties = true;
    }
    if (s.type === 'array' && s.items && typeof s.items === 'object' && !Array.isArray(s.items) && !s.items.enum) {
      s.items = prepare(s.items, ui.items || {}, false);
      opts.disable_array_reorder = true;
      opts.disable_array_delete_all_rows = true;
      opts.disable_array_delete_last_row = true;
    }
    return s;
  }

  // ---------------------------------------------------------------------------------------------
  // client-side checks json-editor does not do itself

  // json-editor drops optional properties that a setValue() leaves out, so every value handed to
  // it is laid over a skeleton with all properties present and empty ('' shows as blank)
  function skeleton(schema) {
    if (!schema || typeof schema !== 'object') return '';
    if (schema.type === 'object' && schema.properties) {
      var out = {};
      Object.keys(schema.properties).forEach(function (k) { out[k] = skeleton(schema.properties[k]); });
      return out;
    }
    if (schema.type === 'array') return [];
    if (schema.type === 'boolean') return false;
    return '';
  }

  function overlay(base, value) {
    if (value === undefined) return base;
    if (base && typeof base === 'object' && !Array.isArray(base) && value && typeof value === 'object' && !Array.isArray(value)) {
      var out = Object.assign({}, base);
      Object.keys(value).forEach(function (k) { out[k] = overlay(base[k], value[k]); });
      return out;
    }
    return value;
  }

  // what is sent: optional fields left empty are left out, as if never shown
  function clean(value, schema) {
    if (!schema || !value || typeof value !== 'object' || Array.isArray(value) || !schema.properties) return value;
    var req = schema.required || [];
    var out = {};
    Object.keys(value).forEach(function (k) {
      var v = clean(value[k], schema.properties[k]);
      var blank = emptyValue(v) || (v && typeof v === 'object' && !Array.isArray(v) && !Object.keys(v).length);
      if (!blank || req.indexOf(k) >= 0) out[k] = v;
    });
    return out;
  }

  function current() {
    return clean(editor.getValue(), cfg.schema);
  }

  function emptyValue(v) {
    return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);
  }

  function ykValidator(schema, value, path) {
    var errors = [];
    var opts = schema.options || {};
    if (schema.type === 'object' && schema.properties && value && typeof value === 'object') {
      Object.keys(schema.properties).forEach(function (key) {
        var child = schema.properties[key];
        var co = child.options || {};
        if (co.yk_required && !child.readOnly && emptyValue(value[key])) {
          errors.push({ path: path + '.' + key, property: 'required', message: REQUIRED, yk: true });
        }
      });
    }
    var fmt = opts.yk_format;
    if (typeof value === 'string' && value !== '' && FORMATS[fmt] && !FORMATS[fmt](value)) {
      var custom = zh && opts.yk_message && opts.yk_message.format;
      errors.push({ path: path, property: 'format', message: custom || FORMAT_FALLBACK[fmt], yk: true });
    }
    return errors;
  }

  // ---------------------------------------------------------------------------------------------
  // the editor

  if (!formEl || !cfg.schema) {
    // a task without a form: one button completes it
    if (submitBtn && cfg.canAct) {
      submitBtn.disabled = false;
      submitBtn.addEventListener('click', function () { send({}); });
    }
    window.yekuoFormReady = true;
    return;
  }
  if (typeof window.JSONEditor === 'undefined') {
    statusEl.textContent = T.noLibrary || 'json-editor is missing';
    return;
  }

  JSONEditor.defaults.languages.zh_CN = ZH;
  JSONEditor.defaults.language = zh ? 'zh_CN' : 'en';

  // json-editor "cleans" every string value before it goes into a field: without DOMPurify by
  // parsing it as HTML in a detached element (a customer's `<img src=x onerror=…>` runs there),
  // with DOMPurify by re-serialising it (`A&B` comes back as `A&amp;B` and is submitted so).
  // Values only ever go into input.value, never into markup: keep them exactly as they are.
  // Titles and descriptions still go through DOMPurify, loaded before json-editor.
  JSONEditor.AbstractEditor.prototype.purify = function (value) { return value; };

  // the html theme joins a field's messages as "a. b." — Chinese sentences end differently
  var BaseTheme = JSONEditor.defaults.themes.html;
  class YekuoTheme extends BaseTheme {
    addInputError(input, text) {
      super.addInputError(input, zh ? text.replace(/\.$/, '').split('. ').join('；') : text);
    }
  }
  JSONEditor.defaults.themes.yekuo = YekuoTheme;

  var schema = prepare(cfg.schema, cfg.ui || {}, true);
  var editor = new JSONEditor(formEl, {
    schema: schema,
    startval: overlay(skeleton(cfg.schema), cfg.startval || {}),
    theme: 'yekuo',
    iconlib: null,
    disable_edit_json: true,
    disable_properties: true,
    disable_collapse: true,
    disable_array_delete_all_rows: true,
    disable_array_delete_last_row: true,
    disable_array_reorder: true,
    prompt_before_delete: false,
    required_by_default: false,
    display_required_only: false,
    show_opt_in: false,
    use_default_values: false,
    remove_empty_properties: true,
    show_errors: 'never',
    no_additional_properties: false,
    custom_validators: [ykValidator]
  });

  var submitted = false;
  var serverErrors = [];   // [{path, message, value}] from the last 422, kept until the field changes

  function at(value, path) {
    var parts = path.split('.').slice(1);
    var v = value;
    for (var i = 0; i < parts.length; i++) {
      if (v === undefined || v === null) return undefined;
      v = v[parts[i]];
    }
    return v;
  }

  function clientErrors(value) {
    return editor.validate(value).filter(function (e) { return !(e.property === 'required' && !e.yk); });
  }

  function liveServerErrors(value) {
    return serverErrors.filter(function (e) { return JSON.stringify(at(value, e.path)) === e.value; });
  }

  function titleOf(path) {
    var ed = editor.getEditor(path);
    return (ed && ed.schema && ed.schema.title) || path.replace(/^root\.?/, '');
  }

  function paint(errors) {
    editor.showValidationErrors(errors);
    if (!errors.length) {
      summaryEl.hidden = true;
      summaryEl.textContent = '';
      return;
    }
    summaryEl.hidden = false;
    summaryEl.textContent = '';
    var head = document.createElement('strong');
    head.textContent = (T.fixErrors || 'Correct %(n)s field(s):').replace('%(n)s', errors.length);
    summaryEl.appendChild(head);
    var list = document.createElement('ul');
    errors.forEach(function (e) {
      var li = document.createElement('li');
      li.textContent = (e.path === 'root' ? '' : titleOf(e.path) + '：') + e.message;
      li.setAttribute('data-path', e.path);
      list.appendChild(li);
    });
    summaryEl.appendChild(list);
  }

  function allErrors() {
    var value = current();
    return clientErrors(value).concat(liveServerErrors(value));
  }

  function nearestEditorPath(path) {
    var parts = path.split('.');
    while (parts.length > 1 && !editor.getEditor(parts.join('.'))) parts.pop();
    return parts.join('.');
  }

  function focusFirstError() {
    var el = formEl.querySelector('.errmsg:not([style*="display: none"]), p[style*="color: red"]');
    if (el && el.scrollIntoView) el.scrollIntoView({ block: 'center' });
  }

  function send(data) {
    submitBtn.disabled = true;
    statusEl.textContent = T.submitting || '…';
    fetch(cfg.completeUrl, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': cfg.csrf },
      body: JSON.stringify({ data: data, instance_version: cfg.instanceVersion })
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) { return { res: res, body: body }; });
    }).then(function (r) {
      if (r.res.ok && r.body.redirect) {
        statusEl.textContent = r.body.ok ? (T.submitted || '') : '';
        window.location.assign(r.body.redirect);
        return;
      }
      submitBtn.disabled = false;
      var err = r.body.error || {};
      statusEl.textContent = '';
      if (r.res.status === 422 && err.details && typeof err.details === 'object' && formEl && editor) {
        var value = current();
        serverErrors = [];
        Object.keys(err.details).forEach(function (field) {
          var path = field === '_form' ? 'root' : nearestEditorPath('root.' + field);
          (err.details[field] || []).forEach(function (message) {
            serverErrors.push({ path: path, property: 'server', message: message,
                                value: JSON.stringify(at(value, path)) });
          });
        });
        paint(allErrors());
        focusFirstError();
      } else {
        summaryEl.hidden = false;
        summaryEl.textContent = err.message || T.failed || 'Error';
      }
    }).catch(function () {
      submitBtn.disabled = false;
      statusEl.textContent = '';
      summaryEl.hidden = false;
      summaryEl.textContent = T.network || 'Network error';
    });
  }

  editor.on('ready', function () {
    if (!cfg.canAct) editor.disable();
    if (submitBtn && cfg.canAct) submitBtn.disabled = false;
    if (demoBtn && cfg.canAct) demoBtn.disabled = false;
    if (window.yekuoTaskInputs) window.yekuoTaskInputs.attach(editor, cfg);
    formEl.setAttribute('data-ready', '1');
    window.yekuoEditor = editor;
    window.yekuoFormReady = true;
  });

  editor.on('change', function () {
    if (!editor.ready) return;
    if (window.yekuoTaskInputs) window.yekuoTaskInputs.attach(editor, cfg);  // new array rows, values set in code
    paint(submitted ? allErrors() : []);
  });

  if (demoBtn) {
    demoBtn.addEventListener('click', function () {
      var keep = {};
      var props = cfg.schema.properties || {};
      Object.keys(cfg.startval || {}).forEach(function (k) { if (props[k] && props[k].readOnly) keep[k] = cfg.startval[k]; });
      editor.setValue(overlay(skeleton(cfg.schema), Object.assign({}, cfg.startval || {}, cfg.example || {}, keep)));
      statusEl.textContent = T.demoFilled || '';
    });
  }

  if (submitBtn) {
    submitBtn.addEventListener('click', function () {
      submitted = true;
      formEl.classList.add('submitted');
      var value = current();
      var errors = clientErrors(value);
      if (errors.length) {
        paint(errors.concat(liveServerErrors(value)));
        focusFirstError();
        return;
      }
      serverErrors = [];
      paint([]);
      send(value);
    });
  }
})();
