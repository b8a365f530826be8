/* The process modeler: bpmn-js's Modeler (from node_modules, no bundler) with Yekuo's own
 * properties panel, the form editor, check (with problems drawn on their elements) and deploy.
 *
 * The spiffworkflow namespace is described to bpmn-js by a moddle descriptor
 * (modeler_spiffworkflow.json), so its elements are typed and editable — and everything the panel
 * does not know still round-trips untouched. The panel writes through `modeling.updateProperties` /
 * `updateModdleProperties`, so every edit is undoable (Ctrl+Z) like a drawing change.
 * bpmn-js-properties-panel needs a bundler; this panel is small on purpose: lanes, form files, the
 * step's time-limit key and its relatives, service operators, timers, gateway conditions.
 * The bpmn.io watermark (bottom right) stays visible: the panel sits beside the canvas, not over it.
 */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('modeler-config').textContent);
  var T = cfg.text || {};
  var statusEl = document.getElementById('status');
  var propsEl = document.getElementById('props');
  var SPIFF = 'spiffworkflow';
  var state = {
    main: cfg.main, files: Object.assign({}, cfg.files), forms: {}, dirty: false, problems: [], notes: [],
    current: null, key: cfg.key
  };
  Object.keys(cfg.forms || {}).forEach(function (name) {
    state.forms[name] = JSON.stringify(cfg.forms[name], null, 2);
  });

  function fmt(text, values) {
    return String(text || '').replace(/%\((\w+)\)s/g, function (_m, k) { return values[k] !== undefined ? values[k] : ''; });
  }

  // the engine's problem text in the page's language (api/web/problem_texts.py); unmatched text stays as it is
  var problemTexts = (cfg.problemTexts || []).map(function (t) { return { re: new RegExp(t.re), text: t.text }; });
  function localise(message) {
    for (var i = 0; i < problemTexts.length; i++) {
      var m = problemTexts[i].re.exec(message);
      if (m) return problemTexts[i].text.replace(/\{(\d+)\}/g, function (_x, n) { return m[+n] || ''; });
    }
    return message;
  }

  function say(text, kind) {
    statusEl.hidden = !text;
    statusEl.className = 'alert alert-' + (kind || 'info');
    statusEl.textContent = text || '';
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'class') node.className = attrs[k];
      else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) node.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return node;
  }

  function api(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': cfg.csrf },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) { return { status: res.status, data: data }; });
    });
  }

  if (typeof window.BpmnJS === 'undefined') { say(T.loadFailed, 'error'); return; }

  var modeler, modeling, moddle, registry, canvas, overlays, selection;

  // ---------------------------------------------------------------------------------------------
  // bpmn-js modules: Chinese texts (a `translate` override) and the task types our models use in
  // the palette (bpmn-js only offers a plain task there; the others hid behind the wrench menu)

  var ZH = cfg.lang === 'zh_CN' ? window.yekuoModelerZh || null : null;

  function translate(template, replacements) {
    var values = replacements || {};
    var text = (ZH && ZH.dict[template]) || template;
    return text.replace(/{([^}]+)}/g, function (_m, k) { return values[k] !== undefined ? values[k] : '{' + k + '}'; });
  }

  function typeName(type) { return (ZH && ZH.types[type]) || type.replace('bpmn:', ''); }

  var PALETTE_TASKS = [
    ['create.user-task', 'bpmn:UserTask', 'bpmn-icon-user-task', 'Create user task'],
    ['create.manual-task', 'bpmn:ManualTask', 'bpmn-icon-manual-task', 'Create manual task'],
    ['create.service-task', 'bpmn:ServiceTask', 'bpmn-icon-service-task', 'Create service task'],
    ['create.script-task', 'bpmn:ScriptTask', 'bpmn-icon-script-task', 'Create script task'],
    ['create.business-rule-task', 'bpmn:BusinessRuleTask', 'bpmn-icon-business-rule-task', 'Create business rule task'],
    ['create.call-activity', 'bpmn:CallActivity', 'bpmn-icon-call-activity', 'Create call activity']
  ];

  function TaskPalette(palette, create, elementFactory, t) {
    this._create = create;
    this._factory = elementFactory;
    this._t = t;
    palette.registerProvider(500, this);  // after bpmn-js's own provider (1000): adds to its entries
  }
  TaskPalette.$inject = ['palette', 'create', 'elementFactory', 'translate'];
  TaskPalette.prototype.getPaletteEntries = function () {
    var self = this;
    return function (entries) {
      var out = {};
      Object.keys(entries).forEach(function (id) {
        out[id] = entries[id];
        if (id !== 'create.task') return;
        PALETTE_TASKS.forEach(function (p) {
          var start = function (event) { self._create.start(event, self._factory.createShape({ type: p[1] })); };
          out[p[0]] = { group: 'activity', className: p[2], title: self._t(p[3]), action: { dragstart: start, click: start } };
        });
      });
      return out;
    };
  };
  var MODULES = [{ translate: ['value', translate] }, { __init__: ['ykTaskPalette'], ykTaskPalette: ['type', TaskPalette] }];

  // ---------------------------------------------------------------------------------------------
  // moddle helpers

  function bo(element) { return element.businessObject; }
  function isA(element, type) { return bo(element) && bo(element).$instanceOf && bo(element).$instanceOf(type); }

  function extValues(b) { return (b.extensionElements && b.extensionElements.values) || []; }
  function findExt(b, type) { return extValues(b).filter(function (v) { return v.$type === type; })[0]; }

  function ensureExt(element) {
    var b = bo(element);
    if (!b.extensionElements) {
      var ext = moddle.create('bpmn:ExtensionElements', { values: [] });
      ext.$parent = b;
      modeling.updateProperties(element, { extensionElements: ext });
    }
    return b.extensionElements;
  }

  function addExt(element, child) {
    var ext = ensureExt(element);
    child.$parent = ext;
    modeling.updateModdleProperties(element, ext, { values: (ext.values || []).concat([child]) });
    return child;
  }

  function removeExt(element, child) {
    var ext = bo(element).extensionElements;
    if (!ext) return;
    modeling.updateModdleProperties(element, ext, { values: ext.values.filter(function (v) { return v !== child; }) });
  }

  function getProp(element, name) {
    var props = findExt(bo(element), SPIFF + ':Properties');
    var p = props && (props.properties || []).filter(function (x) { return x.name === name; })[0];
    return p ? (p.value || '') : '';
  }

  function allProps(element) {
    var props = findExt(bo(element), SPIFF + ':Properties');
    return props ? (props.properties || []).slice() : [];
  }

  function setProp(element, name, value) {
    value = (value || '').trim();
    var props = findExt(bo(element), SPIFF + ':Properties');
    var p = props && (props.properties || []).filter(function (x) { return x.name === name; })[0];
    if (!value) {
      if (p) {
        var rest = props.properties.filter(function (x) { return x !== p; });
        if (rest.length) modeling.updateModdleProperties(element, props, { properties: rest });
        else removeExt(element, props);
      }
      return;
    }
    if (p) { modeling.updateModdleProperties(element, p, { value: value }); return; }
    if (!props) props = addExt(element, moddle.create(SPIFF + ':Properties', { properties: [] }));
    p = moddle.create(SPIFF + ':Property', { name: name, value: value });
    p.$parent = props;
    modeling.updateModdleProperties(element, props, { properties: (props.properties || []).concat([p]) });
  }

  function getBody(element, type) {
    var e = findExt(bo(element), type);
    return e ? (e.value || '') : '';
  }

  function setBody(element, type, value) {
    var e = findExt(bo(element), type);
    if (!value.trim()) { if (e) removeExt(element, e); return; }
    if (e) modeling.updateModdleProperties(element, e, { value: value });
    else addExt(element, moddle.create(type, { value: value }));
  }

  function expr(text) { return moddle.create('bpmn:FormalExpression', { body: text }); }

  // ---------------------------------------------------------------------------------------------
  // the properties panel

  function field(label, control, testid) {
    if (testid) control.setAttribute('data-testid', testid);
    return el('label', { class: 'pfield' }, [el('span', { text: label }), control]);
  }

  function input(value, onchange, attrs) {
    var node = el('input', Object.assign({ type: 'text', value: value || '' }, attrs || {}));
    node.value = value || '';
    node.addEventListener('change', function () { onchange(node.value); });
    return node;
  }

  function anchorSuggestions() {
    // the flow nodes of the open diagram as `task:` anchors (the server also knows the other files)
    var list = el('datalist', { id: 'sla-from-anchors' });
    registry.getAll().forEach(function (e) {
      if (isA(e, 'bpmn:Activity') && e.type !== 'label') list.appendChild(el('option', { value: 'task:' + e.id }));
    });
    return list;
  }

  function textarea(value, onchange, rows) {
    var node = el('textarea', { rows: rows || 3, class: 'code', spellcheck: 'false' });
    node.value = value || '';
    node.addEventListener('change', function () { onchange(node.value); });
    return node;
  }

  function select(options, value, onchange) {
    var node = el('select');
    options.forEach(function (o) {
      var opt = el('option', { value: o[0], text: o[1] });
      if (o[0] === value) opt.selected = true;
      node.appendChild(opt);
    });
    if (value && !options.some(function (o) { return o[0] === value; })) {
      var extra = el('option', { value: value, text: value });
      extra.selected = true;
      node.appendChild(extra);
    }
    node.addEventListener('change', function () { onchange(node.value); });
    return node;
  }

  function lanes() {
    return registry.filter(function (e) { return e.type === 'bpmn:Lane'; });
  }

  function laneOf(element) {
    var b = bo(element);
    var found = lanes().filter(function (l) { return (bo(l).flowNodeRef || []).indexOf(b) >= 0; })[0];
    return found || null;
  }

  function moveToLane(element, laneId) {
    var lane = registry.get(laneId);
    if (!lane) return;
    var dy = (lane.y + lane.height / 2) - (element.y + element.height / 2);
    var inside = element.y >= lane.y && element.y + element.height <= lane.y + lane.height;
    if (!inside) modeling.moveElements([element], { x: 0, y: Math.round(dy) });
    var b = bo(element);
    // bpmn-js keeps flowNodeRef in step with the position; make sure (a shape on a lane border)
    lanes().forEach(function (l) {
      var refs = bo(l).flowNodeRef || [];
      var has = refs.indexOf(b) >= 0;
      if (l.id === laneId && !has) modeling.updateModdleProperties(l, bo(l), { flowNodeRef: refs.concat([b]) });
      if (l.id !== laneId && has) modeling.updateModdleProperties(l, bo(l), { flowNodeRef: refs.filter(function (r) { return r !== b; }) });
    });
  }

  function formNames(suffix) {
    var names = {};
    Object.keys(state.forms).forEach(function (n) { names[n] = true; });
    (cfg.serverForms || []).forEach(function (n) { names[n] = true; });
    return Object.keys(names).filter(function (n) { return n.slice(-suffix.length) === suffix; }).sort();
  }

  var KNOWN_PROPS = ['formJsonSchemaFilename', 'formUiSchemaFilename', 'slaKey', 'slaFrom', 'slaPause', 'slaEnd', 'milestone', 'dueFrom', 'calledVersion'];

  function renderProps() {
    var element = state.current;
    propsEl.textContent = '';
    if (!element || element.type === 'label') {
      propsEl.appendChild(el('p', { class: 'muted', text: T.nothingSelected }));
      return;
    }
    var b = bo(element);
    var rows = [];
    rows.push(el('div', { class: 'ptype' }, [el('strong', { text: typeName(element.type), 'data-testid': 'prop-type' }), ' ',
      el('code', { text: element.id, 'data-testid': 'prop-id' })]));
    rows.push(field(T.name, input(b.name, function (v) { modeling.updateLabel(element, v); }), 'prop-name'));

    if (isA(element, 'bpmn:Participant') && b.processRef) {
      var proc = b.processRef;
      rows.push(field(T.processKey, input(proc.id, function (v) {
        if (/^[A-Za-z_][\w.-]*$/.test(v)) modeling.updateModdleProperties(element, proc, { id: v });
      }), 'prop-process-key'));
      rows.push(field(T.processName, input(proc.name, function (v) {
        modeling.updateModdleProperties(element, proc, { name: v });
      }), 'prop-process-name'));
    }
    var isFlowNode = isA(element, 'bpmn:FlowNode');
    if (isFlowNode && !isA(element, 'bpmn:BoundaryEvent') && lanes().length) {
      var current = laneOf(element);
      var opts = [['', T.noLane]].concat(lanes().map(function (l) { return [l.id, bo(l).name || l.id]; }));
      rows.push(field(T.lane, select(opts, current ? current.id : '', function (v) { if (v) moveToLane(element, v); }), 'prop-lane'));
    }

    if (isA(element, 'bpmn:UserTask') || isA(element, 'bpmn:ManualTask')) {
      if (isA(element, 'bpmn:UserTask')) {
        var schemaSel = select([['', T.none]].concat(formNames('.schema.json').map(function (n) { return [n, n]; })),
          getProp(element, 'formJsonSchemaFilename'), function (v) { setProp(element, 'formJsonSchemaFilename', v); });
        rows.push(field(T.formSchema, schemaSel, 'prop-form'));
        var uiSel = select([['', T.none]].concat(formNames('.uischema.json').map(function (n) { return [n, n]; })),
          getProp(element, 'formUiSchemaFilename'), function (v) { setProp(element, 'formUiSchemaFilename', v); });
        rows.push(field(T.formUi, uiSel, 'prop-form-ui'));
        rows.push(el('div', { class: 'pbuttons' }, [
          el('button', { type: 'button', class: 'btn btn-sm btn-ghost', text: T.editForm, 'data-testid': 'prop-edit-form',
            onclick: function () { var n = getProp(element, 'formJsonSchemaFilename'); if (n) openForm(n); showTab('forms'); } }),
          el('button', { type: 'button', class: 'btn btn-sm btn-ghost', text: T.newForm,
            onclick: function () { showTab('forms'); document.getElementById('form-new').focus(); } })
        ]));
      }
      var slaOpts = [['', T.none]].concat((cfg.slaKeys || []).map(function (k) {
        return [k.key, k.key + ' — ' + k.title + ' (' + k.limits.join(', ') + ')'];
      }));
      rows.push(field(T.slaKey, select(slaOpts, getProp(element, 'slaKey'), function (v) { setProp(element, 'slaKey', v); }), 'prop-sla'));
      // where the clock starts: task:<id> (its completion), field:<data key> (a date), message:<name>;
      // several separated by commas count from the latest. Checked on the server (check/deploy).
      rows.push(field(T.slaFrom, input(getProp(element, 'slaFrom'), function (v) { setProp(element, 'slaFrom', v.trim()); },
        { placeholder: 'task:accept, field:intermediate_requested_on, message:…', list: 'sla-from-anchors' }), 'prop-sla-from'));
      rows.push(anchorSuggestions());
      var pauseOpts = [['', T.none]].concat(Object.keys(cfg.pauseReasons || {}).map(function (k) { return [k, cfg.pauseReasons[k]]; }));
      rows.push(field(T.slaPause, select(pauseOpts, getProp(element, 'slaPause'), function (v) { setProp(element, 'slaPause', v); })));
      var endBox = el('input', { type: 'checkbox' });
      endBox.checked = getProp(element, 'slaEnd') === 'whole_process';
      endBox.addEventListener('change', function () { setProp(element, 'slaEnd', endBox.checked ? 'whole_process' : ''); });
      rows.push(el('label', { class: 'pcheck' }, [endBox, ' ', T.slaEnd]));
      rows.push(field(T.milestone, input(getProp(element, 'milestone'), function (v) { setProp(element, 'milestone', v); })));
      rows.push(field(T.dueFrom, input(getProp(element, 'dueFrom'), function (v) { setProp(element, 'dueFrom', v); })));
      rows.push(field(T.instructions, textarea(getBody(element, SPIFF + ':InstructionsForEndUser'),
        function (v) { setBody(element, SPIFF + ':InstructionsForEndUser', v); })));
    }

    if (isA(element, 'bpmn:ServiceTask')) rows = rows.concat(serviceRows(element));
    if (isA(element, 'bpmn:ScriptTask')) {
      rows.push(field(T.script, textarea(b.script, function (v) { modeling.updateProperties(element, { scriptFormat: b.scriptFormat, script: v }); }, 6), 'prop-script'));
    }
    if (isA(element, 'bpmn:BusinessRuleTask')) {
      rows.push(field(T.decision, input(getBody(element, SPIFF + ':CalledDecisionId'),
        function (v) { setBody(element, SPIFF + ':CalledDecisionId', v); })));
    }
    if (isA(element, 'bpmn:CallActivity')) {
      rows.push(field(T.calledElement, input(b.calledElement, function (v) { modeling.updateProperties(element, { calledElement: v }); })));
      // binding: empty = latest (the newest version when the call starts), or a pinned version number
      rows.push(field(T.calledVersion, input(getProp(element, 'calledVersion'), function (v) {
        setProp(element, 'calledVersion', v.trim() === 'latest' ? '' : v.trim());
      }, { placeholder: 'latest' }), 'prop-called-version'));
    }
    var timer = (b.eventDefinitions || []).filter(function (d) { return d.$type === 'bpmn:TimerEventDefinition'; })[0];
    if (timer) rows = rows.concat(timerRows(element, timer));
    if (isA(element, 'bpmn:SequenceFlow')) rows = rows.concat(flowRows(element));
    if (isA(element, 'bpmn:ExclusiveGateway') || isA(element, 'bpmn:InclusiveGateway')) {
      var outs = (b.outgoing || []).map(function (f) { return [f.id, (f.name || '') + ' (' + f.id + ')']; });
      rows.push(field(T.defaultFlow, select([['', T.none]].concat(outs), b.default ? b.default.id : '', function (v) {
        modeling.updateProperties(element, { 'default': v ? registry.get(v).businessObject : undefined });
      }), 'prop-default'));
    }
    if (isFlowNode || isA(element, 'bpmn:Process') || isA(element, 'bpmn:Participant')) rows = rows.concat(otherPropRows(element));
    rows.forEach(function (r) { propsEl.appendChild(r); });
  }

  function serviceRows(element) {
    var op = findExt(bo(element), SPIFF + ':ServiceTaskOperator');
    var rows = [];
    var ops = [['', T.none]].concat((cfg.operators || []).map(function (o) { return [o, o]; }));
    rows.push(field(T.operator, select(ops, op ? op.id : '', function (v) {
      if (!v) { if (op) removeExt(element, op); return; }
      if (op) { modeling.updateModdleProperties(element, op, { id: v }); return; }
      var params = moddle.create(SPIFF + ':Parameters', { parameters: [] });
      var created = moddle.create(SPIFF + ':ServiceTaskOperator', { id: v, parameterList: params });
      params.$parent = created;
      addExt(element, created);
    }), 'prop-operator'));
    if (!op) return rows;
    rows.push(field(T.resultVariable, input(op.resultVariable, function (v) {
      modeling.updateModdleProperties(element, op, { resultVariable: v || undefined });
    })));
    var list = op.parameterList;
    var table = el('table', { class: 'ptable' }, [el('tr', {}, [el('th', { text: T.paramId }), el('th', { text: T.paramType }),
      el('th', { text: T.paramValue }), el('th')])]);
    ((list && list.parameters) || []).forEach(function (p) {
      function upd(key) { return function (v) { var o = {}; o[key] = v; modeling.updateModdleProperties(element, p, o); }; }
      table.appendChild(el('tr', {}, [el('td', {}, [input(p.id, upd('id'))]), el('td', {}, [input(p.type, upd('type'))]),
        el('td', {}, [input(p.value, upd('value'))]),
        el('td', {}, [el('button', { type: 'button', class: 'btn btn-sm btn-ghost', text: '×', title: T.remove, onclick: function () {
          modeling.updateModdleProperties(element, list, { parameters: list.parameters.filter(function (x) { return x !== p; }) });
        } })])]));
    });
    rows.push(el('div', { class: 'pfield' }, [el('span', { text: T.parameters }), table,
      el('button', { type: 'button', class: 'btn btn-sm btn-ghost', text: '＋ ' + T.addParam, onclick: function () {
        var target = list;
        if (!target) {
          target = moddle.create(SPIFF + ':Parameters', { parameters: [] });
          modeling.updateModdleProperties(element, op, { parameterList: target });
        }
        var p = moddle.create(SPIFF + ':Parameter', { id: 'name', type: 'str', value: '""' });
        modeling.updateModdleProperties(element, target, { parameters: (target.parameters || []).concat([p]) });
      } })]));
    return rows;
  }

  function timerRows(element, timer) {
    var kinds = ['timeDate', 'timeDuration', 'timeCycle'];
    var kind = kinds.filter(function (k) { return timer[k]; })[0] || 'timeDuration';
    var value = timer[kind] ? timer[kind].body || '' : '';
    function write(newKind, text) {
      var props = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
      props[newKind] = expr(text);
      modeling.updateModdleProperties(element, timer, props);
    }
    var exprInput = input(value, function (v) { write(kind, v); });
    return [
      field(T.timerKind, select(kinds.map(function (k) { return [k, T[k]]; }), kind, function (v) { write(v, exprInput.value); }), 'prop-timer-kind'),
      field(T.timerExpr, exprInput, 'prop-timer')
    ];
  }

  function flowRows(element) {
    var b = bo(element);
    var source = b.sourceRef;
    if (!source || !(source.$instanceOf('bpmn:ExclusiveGateway') || source.$instanceOf('bpmn:InclusiveGateway'))) return [];
    var rows = [];
    rows.push(field(T.condition, textarea(b.conditionExpression ? b.conditionExpression.body : '', function (v) {
      modeling.updateProperties(element, { conditionExpression: v.trim() ? expr(v.trim()) : undefined });
    }, 2), 'prop-condition'));
    var box = el('input', { type: 'checkbox' });
    box.checked = source.default === b;
    box.addEventListener('change', function () {
      modeling.updateProperties(registry.get(source.id), { 'default': box.checked ? b : undefined });
    });
    rows.push(el('label', { class: 'pcheck' }, [box, ' ', T.defaultFlow]));
    return rows;
  }

  function otherPropRows(element) {
    var others = allProps(element).filter(function (p) { return KNOWN_PROPS.indexOf(p.name) < 0 || !isA(element, 'bpmn:Task'); });
    var table = el('table', { class: 'ptable' });
    others.forEach(function (p) {
      table.appendChild(el('tr', {}, [el('td', { text: p.name }), el('td', {}, [input(p.value, function (v) { setProp(element, p.name, v); })])]));
    });
    var nameIn = el('input', { type: 'text', placeholder: T.propName, 'data-testid': 'prop-new-name' });
    var valueIn = el('input', { type: 'text', placeholder: T.propValue, 'data-testid': 'prop-new-value' });
    return [el('details', { class: 'pother' }, [el('summary', { text: T.otherProps + (others.length ? ' (' + others.length + ')' : '') }), table,
      el('div', { class: 'pbuttons' }, [nameIn, valueIn, el('button', { type: 'button', class: 'btn btn-sm btn-ghost', text: T.addProp,
        onclick: function () { if (nameIn.value.trim()) setProp(element, nameIn.value.trim(), valueIn.value); } })])])];
  }

  // ---------------------------------------------------------------------------------------------
  // forms: list, edit as JSON text, check with the engine's form checks, live preview

  var formSelect = document.getElementById('form-select');
  var formText = document.getElementById('form-text');
  var formStatus = document.getElementById('form-status');
  var formPreview = document.getElementById('form-preview');
  var formUsed = document.getElementById('form-used');
  var previewEditor = null;
  var formTimer = null;
  var openFormName = null;

  function referencedForms() {
    var used = {};
    registry.filter(function (e) { return isA(e, 'bpmn:UserTask'); }).forEach(function (e) {
      ['formJsonSchemaFilename', 'formUiSchemaFilename'].forEach(function (k) {
        var n = getProp(e, k);
        if (n) (used[n] = used[n] || []).push(bo(e).name || e.id);
      });
    });
    return used;
  }

  function fillFormSelect() {
    var used = referencedForms();
    var names = Object.keys(state.forms).sort();
    formSelect.textContent = '';
    if (!names.length) formSelect.appendChild(el('option', { value: '', text: T.noForms }));
    names.forEach(function (n) {
      var opt = el('option', { value: n, text: n + (used[n] ? ' ✓' : '') });
      if (n === openFormName) opt.selected = true;
      formSelect.appendChild(opt);
    });
  }

  function openForm(name) {
    if (!(name in state.forms)) return;
    openFormName = name;
    fillFormSelect();
    formText.value = state.forms[name];
    var used = referencedForms()[name];
    formUsed.textContent = used ? T.formUsedBy + ': ' + used.join('、') : '';
    formChanged(true);
  }

  function renderPreview(schema) {
    if (previewEditor) { try { previewEditor.destroy(); } catch (e) { /* already gone */ } previewEditor = null; }
    formPreview.textContent = '';
    if (typeof window.JSONEditor === 'undefined' || !schema || typeof schema !== 'object') return;
    // values only go into input.value: never parse or re-serialise them (see task.js)
    window.JSONEditor.AbstractEditor.prototype.purify = function (value) { return value; };
    if (openFormName && /\.uischema\.json$/.test(openFormName)) return;
    var s = JSON.parse(JSON.stringify(schema));
    ['$schema', '$id', 'examples', 'allOf', 'if', 'then', 'else', 'errorMessage'].forEach(function (k) { delete s[k]; });
    try {
      previewEditor = new window.JSONEditor(formPreview, {
        schema: s, theme: 'html', iconlib: null, disable_edit_json: true, disable_properties: true,
        disable_collapse: true, show_errors: 'never', required_by_default: false, no_additional_properties: false
      });
    } catch (e) {
      formPreview.textContent = String(e && e.message || e);
    }
  }

  function formChanged(immediate) {
    if (!openFormName) return;
    var text = formText.value;
    state.forms[openFormName] = text;
    var parsed;
    try { parsed = JSON.parse(text); } catch (e) {
      formStatus.className = 'small form-bad';
      formStatus.textContent = fmt(T.formInvalid, { msg: e.message });
      return;
    }
    clearTimeout(formTimer);
    formTimer = setTimeout(function () {
      renderPreview(parsed);
      var body = { forms: {} };
      body.forms[openFormName] = text;
      api(cfg.checkUrl, body).then(function (r) {
        var problems = (r.data && r.data.problems) || [];
        formStatus.className = 'small ' + (problems.length ? 'form-bad' : 'form-ok');
        formStatus.textContent = problems.length ? problems.map(function (p) {
          return (p.element ? p.element + ': ' : '') + localise(p.message);
        }).join('\n') : T.formOk;
      });
    }, immediate ? 0 : 400);
  }

  formSelect.addEventListener('change', function () { openForm(formSelect.value); });
  formText.addEventListener('input', function () { formChanged(false); });

  var newName = el('input', { type: 'text', id: 'form-new-name', placeholder: 'site-check.schema.json', 'data-testid': 'form-new-name' });
  document.getElementById('form-new').parentNode.insertBefore(newName, document.getElementById('form-new'));
  document.getElementById('form-new').addEventListener('click', function () {
    var name = newName.value.trim();
    if (!/^[^\/\\]+\.(schema|uischema)\.json$/.test(name)) { formStatus.className = 'small form-bad'; formStatus.textContent = T.badFormName; return; }
    if (state.forms[name] !== undefined || (cfg.serverForms || []).indexOf(name) >= 0) {
      formStatus.className = 'small form-bad'; formStatus.textContent = T.formExists; return;
    }
    var template = /\.uischema\.json$/.test(name) ? { 'ui:order': [] } : {
      '$schema': 'https://json-schema.org/draft/2020-12/schema', 'title': '', 'type': 'object',
      'required': [], 'properties': {}, 'examples': [{}]
    };
    state.forms[name] = JSON.stringify(template, null, 2);
    newName.value = '';
    openForm(name);
    if (state.current && isA(state.current, 'bpmn:UserTask') && /\.schema\.json$/.test(name) && !getProp(state.current, 'formJsonSchemaFilename')) {
      setProp(state.current, 'formJsonSchemaFilename', name);
    }
    renderProps();
  });

  // ---------------------------------------------------------------------------------------------
  // tabs

  function showTab(name) {
    document.querySelectorAll('.modeler-side .tab').forEach(function (b) { b.classList.toggle('active', b.getAttribute('data-tab') === name); });
    document.querySelectorAll('.side-panel').forEach(function (p) { p.hidden = p.getAttribute('data-panel') !== name; });
    if (name === 'forms') formOfSelection();
  }

  function formOfSelection() {
    // the 表单 tab shows the selected task's form; with no task selected, the one open before
    fillFormSelect();
    var own = state.current && isA(state.current, 'bpmn:UserTask') ? getProp(state.current, 'formJsonSchemaFilename') : '';
    if (own && own in state.forms) { if (own !== openFormName) openForm(own); return; }
    if (!openFormName) { var first = Object.keys(state.forms).sort()[0]; if (first) openForm(first); }
  }

  function formsTabOpen() { return !document.querySelector('.side-panel[data-panel="forms"]').hidden; }
  document.querySelectorAll('.modeler-side .tab').forEach(function (b) {
    b.addEventListener('click', function () { showTab(b.getAttribute('data-tab')); });
  });

  // ---------------------------------------------------------------------------------------------
  // the bundle, check and deploy

  function bundle() {
    return modeler.saveXML({ format: true }).then(function (out) {
      var files = Object.assign({}, state.files);
      if (state.dirty) files[state.main] = out.xml;   // unchanged: the exact text, so the checksum holds
      var forms = {};
      Object.keys(state.forms).forEach(function (n) {
        var text = state.forms[n];
        try { forms[n] = JSON.parse(text); } catch (e) { forms[n] = text; }  // the server names the JSON error
      });
      return { files: files, forms: forms };
    });
  }

  function clearProblems() {
    overlays.remove({ type: 'yk-problem' });
    registry.getAll().forEach(function (e) { canvas.removeMarker(e, 'yk-problem'); });
  }

  function focusElement(id) {
    var element = registry.get(id);
    if (!element) return;
    canvas.scrollToElement(element);
    selection.select(element);
    canvas.focus();  // keyboard back on the canvas: Delete, Ctrl+Z act on the selected element
  }

  function showProblems(problems, notes) {
    state.problems = problems;
    clearProblems();
    var list = document.getElementById('problems');
    var summary = document.getElementById('problems-summary');
    var count = document.getElementById('problem-count');
    list.textContent = '';
    count.textContent = problems.length ? String(problems.length) : '';
    summary.textContent = problems.length ? fmt(T.problems, { n: problems.length }) : T.checkOk;
    summary.className = problems.length ? 'problems-bad' : 'problems-ok';
    var perElement = {};
    problems.forEach(function (p) {
      var onCanvas = p.element && p.file === state.main && registry.get(p.element);
      var li = el('li', { class: onCanvas ? 'problem clickable' : 'problem', 'data-element': p.element || '',
        'data-testid': 'problem' }, [
        el('div', { class: 'problem-where muted small', text: [p.file, p.element, p.line ? fmt(T.line, { n: p.line }) : ''].filter(Boolean).join(' · ') }),
        el('div', { class: 'problem-text', text: localise(p.message), title: p.message })
      ]);
      if (onCanvas) li.addEventListener('click', function () { focusElement(p.element); });
      list.appendChild(li);
      if (onCanvas) (perElement[p.element] = perElement[p.element] || []).push(localise(p.message));
    });
    Object.keys(perElement).forEach(function (id) {
      canvas.addMarker(id, 'yk-problem');
      var badge = el('span', { class: 'yk-problem-badge', title: perElement[id].join('\n'), text: '! ' + perElement[id].length,
        'data-testid': 'problem-badge', 'data-element': id });
      badge.addEventListener('click', function () { focusElement(id); showTab('problems'); });
      overlays.add(id, 'yk-problem', { position: { top: -12, left: -12 }, html: badge });
    });
    var notesEl = document.getElementById('notes');
    notesEl.textContent = '';
    if (notes && notes.length) {
      notesEl.appendChild(el('strong', { text: T.importNotes }));
      notesEl.appendChild(el('ul', {}, notes.map(function (n) {
        return el('li', { text: (n.element ? n.element + ': ' : '') + n.message });
      })));
    }
    window.yekuoModeler.problems = problems;
  }

  function runCheck() {
    say(T.checking);
    return bundle().then(function (b) { return api(cfg.checkUrl, b); }).then(function (r) {
      if (r.status !== 200) { say((r.data.error && r.data.error.message) || T.network, 'error'); return null; }
      showProblems(r.data.problems, r.data.notes);
      say(r.data.ok ? T.checkOk : fmt(T.problems, { n: r.data.problems.length }), r.data.ok ? 'success' : 'error');
      if (!r.data.ok) showTab('problems');
      window.yekuoModeler.checked = (window.yekuoModeler.checked || 0) + 1;
      return r.data;
    }).catch(function () { say(T.network, 'error'); });
  }

  document.getElementById('check').addEventListener('click', runCheck);

  function showVersion(version) {
    // the header names the version now deployed (no reload); the "latest is" hint no longer applies
    var badge = document.getElementById('editing-version');
    if (badge) badge.textContent = 'v' + version;
    var stale = document.getElementById('latest-hint');
    if (stale) stale.hidden = true;
    cfg.version = version;
  }

  var dialog = document.getElementById('deploy-dialog');
  var noteEl = document.getElementById('deploy-note');
  var deployError = document.getElementById('deploy-error');
  document.getElementById('deploy').addEventListener('click', function () {
    deployError.hidden = true;
    if (dialog.showModal) dialog.showModal(); else dialog.setAttribute('open', '');
    noteEl.focus();
  });
  document.getElementById('deploy-cancel').addEventListener('click', function () { dialog.close(); });
  document.getElementById('deploy-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var note = noteEl.value.trim();
    if (!note) { deployError.hidden = false; deployError.textContent = T.noteRequired; noteEl.focus(); return; }
    var confirmBtn = document.getElementById('deploy-confirm');
    confirmBtn.disabled = true;
    bundle().then(function (b) {
      b.note = note;
      return api(cfg.deployUrl, b);
    }).then(function (r) {
      confirmBtn.disabled = false;
      if (r.status === 201) {
        dialog.close();
        var mine = r.data.results.filter(function (x) { return x.created; });
        var text = r.data.results.map(function (x) {
          return x.name + ' ' + fmt(T.version, { n: x.version }) + (x.created ? '' : ' (' + T.unchanged + ')');
        }).join('、');
        var key = (mine[0] || r.data.results[0]).key;
        say(fmt(T.deployed, { what: text }), 'success');
        var link = el('a', { href: cfg.versionsUrl.replace('__KEY__', encodeURIComponent(key)), text: ' → ' + key,
          'data-testid': 'deployed-versions-link' });
        statusEl.appendChild(link);
        state.dirty = false;
        var own = r.data.results.filter(function (x) { return x.key === state.key; })[0];
        if (own) showVersion(own.version);
        window.yekuoModeler.deployed = r.data.results;
        return;
      }
      var err = (r.data && r.data.error) || {};
      deployError.hidden = false;
      if (err.code === 'invalid_definition') {
        dialog.close();
        showProblems((err.details || []).map(function (p) { return p; }), []);
        say(T.deployFailed + ' ' + fmt(T.problems, { n: (err.details || []).length }), 'error');
        showTab('problems');
      } else {
        deployError.textContent = T.deployFailed + ' ' + (err.details && err.details.note ? err.details.note.join(' ') : (err.message || ''));
      }
    }).catch(function () { confirmBtn.disabled = false; deployError.hidden = false; deployError.textContent = T.network; });
  });

  // ---------------------------------------------------------------------------------------------
  // open a file (Camunda Modeler, spiff-arena, bpmn.io, an exported zip), download

  document.getElementById('open-file').addEventListener('change', function (ev) {
    var file = ev.target.files[0];
    if (!file) return;
    var data = new FormData();
    data.append('file', file);
    var laneMap = document.getElementById('lane-map');
    if (laneMap && laneMap.value.trim()) data.append('lane_map', laneMap.value);
    var formMap = document.getElementById('form-map');
    if (formMap && formMap.value.trim()) data.append('form_map', formMap.value);
    fetch(cfg.importUrl, { method: 'POST', credentials: 'same-origin', body: data,
      headers: { 'Accept': 'application/json', 'X-CSRF-Token': cfg.csrf } })
      .then(function (res) { return res.json().then(function (d) { return { status: res.status, data: d }; }); })
      .then(function (r) {
        if (r.status !== 200) { say((r.data.error && r.data.error.message) || T.loadFailed, 'error'); return; }
        state.files = r.data.files;
        state.main = r.data.main;
        Object.keys(r.data.forms || {}).forEach(function (n) { state.forms[n] = JSON.stringify(r.data.forms[n], null, 2); });
        return load(state.files[state.main]).then(function () {
          state.dirty = true;
          say(fmt(T.opened, { name: file.name }), 'success');
          showProblems(r.data.problems || [], r.data.notes || []);
          if ((r.data.problems || []).length) showTab('problems');
        });
      }).catch(function () { say(T.loadFailed, 'error'); });
    ev.target.value = '';
  });

  document.getElementById('download').addEventListener('click', function () {
    modeler.saveXML({ format: true }).then(function (out) {
      var blob = new Blob([out.xml], { type: 'application/xml' });
      var a = el('a', { href: URL.createObjectURL(blob), download: state.main });
      document.body.appendChild(a);
      a.click();
      a.remove();
    });
  });

  // ---------------------------------------------------------------------------------------------
  // start

  function fitClearOfPalette() {
    // fit the diagram into the part of the canvas right of the palette, so the palette neither
    // covers the start of the process nor takes its clicks
    canvas.zoom('fit-viewport', 'auto');
    var vb = canvas.viewbox();
    var pal = document.querySelector('#canvas .djs-palette');
    var left = (pal ? pal.getBoundingClientRect().right - document.getElementById('canvas').getBoundingClientRect().left : 60) + 16;
    var inner = vb.inner, outer = vb.outer;
    if (!inner.width || !inner.height) return;
    var scale = Math.min((outer.width - left - 24) / inner.width, (outer.height - 48) / inner.height, 1);
    canvas.viewbox({ x: inner.x - left / scale, y: inner.y - ((outer.height / scale) - inner.height) / 2,
      width: outer.width / scale, height: outer.height / scale });
  }

  function load(xml) {
    return modeler.importXML(xml).then(function (result) {
      fitClearOfPalette();
      state.current = null;
      renderProps();
      fillFormSelect();
      return result;
    });
  }

  fetch(cfg.descriptorUrl, { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (descriptor) {
    modeler = new window.BpmnJS({ container: '#canvas', moddleExtensions: { spiffworkflow: descriptor },
      additionalModules: MODULES });
    modeling = modeler.get('modeling');
    moddle = modeler.get('moddle');
    registry = modeler.get('elementRegistry');
    canvas = modeler.get('canvas');
    overlays = modeler.get('overlays');
    selection = modeler.get('selection');
    window.yekuoModeler = { modeler: modeler, state: state, check: runCheck, setProp: function (id, n, v) { setProp(registry.get(id), n, v); },
      getProp: function (id, n) { return getProp(registry.get(id), n); }, bundle: bundle, moveToLane: function (id, lane) { moveToLane(registry.get(id), lane); } };
    modeler.on('selection.changed', function (e) {
      state.current = e.newSelection.length === 1 ? e.newSelection[0] : null;
      renderProps();
      if (formsTabOpen()) formOfSelection();
    });
    modeler.on('commandStack.changed', function () {
      state.dirty = true;
      var typing = propsEl.contains(document.activeElement) &&
        (document.activeElement.tagName === 'TEXTAREA' || (document.activeElement.tagName === 'INPUT' && document.activeElement.type === 'text'));
      if (state.current && !typing) renderProps();
    });
    return load(state.files[state.main]);
  }).then(function () {
    state.dirty = false;
    window.yekuoModelerReady = true;
    document.getElementById('canvas').setAttribute('data-ready', 'true');
  }).catch(function (err) {
    say(T.loadFailed + ' ' + (err && err.message ? err.message : ''), 'error');
  });

  window.addEventListener('beforeunload', function (ev) {
    if (state.dirty && !window.yekuoModeler.deployed) { ev.preventDefault(); ev.returnValue = T.unsaved; }
  });
})();
