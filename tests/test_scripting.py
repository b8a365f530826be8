"""The script sandbox: normal scripts keep working, escapes and runaway scripts do not."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from engine.core.errors import ScriptError, ServiceError
from engine.core.scripting.helpers import DEFAULT_HELPERS
from engine.core.scripting.policy import check_source
from engine.core.scripting.script_engine import RestrictedEnvironment, ScriptEngine, make_script_engine

# Every refusal surfaces as one of these: ScriptError from the sandbox, NameError for names
# that simply do not exist inside it.
REFUSED = (ScriptError, NameError)


@pytest.fixture
def env() -> RestrictedEnvironment:
    return RestrictedEnvironment(time_limit=0.3)


# --------------------------------------------------------------------------------------------
# normal use


def test_condition(env: RestrictedEnvironment) -> None:
    cond = 'capacity_kw <= 160 and voltage == "0.4kV"'
    assert env.evaluate(cond, {"capacity_kw": 120, "voltage": "0.4kV"}) is True
    assert env.evaluate(cond, {"capacity_kw": 200, "voltage": "0.4kV"}) is False
    assert env.evaluate("\n   load_kw > 100\n", {"load_kw": 101}) is True  # BPMN text keeps whitespace


def test_timer_expression(env: RestrictedEnvironment) -> None:
    assert env.evaluate('"P2D"', {}) == "P2D"
    assert env.evaluate("survey_sla", {"survey_sla": "P10D"}) == "P10D"


def test_script_assigns_variables(env: RestrictedEnvironment) -> None:
    ctx = {"a": 1}
    assert env.execute("x = a + 1\ny = x * 10\nname = 'LV' if y < 100 else 'MV'", ctx) is True
    assert ctx == {"a": 1, "x": 2, "y": 20, "name": "LV"}


def test_container_writes(env: RestrictedEnvironment) -> None:
    ctx = {"d": {}, "lst": [1]}
    env.execute("d['a'] = 1\nd['a'] += 4\nlst.append(2)\nlst[0] = 0\nlst.extend([3])\ns = {1}\ns.add(2)\n"
                "s = sorted(s)\ndel d['a']\nd['b'] = {'c': [1]}\nd['b']['c'].append(2)", ctx)
    assert ctx == {"d": {"b": {"c": [1, 2]}}, "lst": [0, 2, 3], "s": [1, 2]}


def test_loops_comprehensions_functions(env: RestrictedEnvironment) -> None:
    script = """
total = 0
for i in range(10):
    total += i
n = 0
while n < 5:
    n += 1
squares = [i * i for i in range(4) if i % 2 == 0]
by_name = {p['name']: p['kw'] for p in points}
biggest = max(points, key=lambda p: p['kw'])['name']
def tariff(kw):
    return 'LV' if kw <= 160 else 'MV'
tariffs = sorted({tariff(p['kw']) for p in points})
pairs = [(i, name) for i, name in enumerate(sorted(by_name))]
a, (b, c) = 1, (2, 3)
label = f"{total:>4}|{n:03d}|{'%.1f' % 2.25}"
try:
    bad = int('x')
except ValueError:
    bad = None
"""
    ctx = {"points": [{"name": "P1", "kw": 50}, {"name": "P2", "kw": 400}]}
    env.execute(script, ctx)
    assert ctx["total"] == 45 and ctx["n"] == 5 and ctx["squares"] == [0, 4]
    assert ctx["by_name"] == {"P1": 50, "P2": 400} and ctx["biggest"] == "P2"
    assert ctx["tariffs"] == ["LV", "MV"] and ctx["pairs"] == [(0, "P1"), (1, "P2")]
    assert (ctx["a"], ctx["b"], ctx["c"]) == (1, 2, 3)
    assert ctx["label"] == "  45|005|2.2" and ctx["bad"] is None
    assert "tariff" not in ctx  # functions never reach task data


def test_helpers(env: RestrictedEnvironment) -> None:
    script = """
due = parse_date(applied) + timedelta(days=10)
due_text = due.isoformat()
late_days = days_between(applied, '2026-03-20')
at = parse_datetime('2026-03-01T08:00:00+08:00') + timedelta(hours=48)
fee = str((Decimal('12.345') * 2).quantize(Decimal('0.01')))
kw = ceil(load / 3) + floor(2.7)
ok = re_match(r'\\d{6}$', postcode) and not re_match('x', postcode)
wd = date(2026, 3, 2).weekday()
"""
    ctx = {"applied": "2026-03-01", "load": 10, "postcode": "100010"}
    env.execute(script, ctx)
    assert ctx["due"] == "2026-03-11" and ctx["due_text"] == "2026-03-11"  # dates are stored as ISO text
    assert ctx["late_days"] == 19
    assert ctx["at"] == "2026-03-03T08:00:00+08:00"
    assert ctx["fee"] == "24.69" and ctx["kw"] == 6 and ctx["ok"] is True and ctx["wd"] == 0
    assert set(DEFAULT_HELPERS) >= {"Decimal", "date", "datetime", "timedelta", "parse_date",
                                     "parse_datetime", "days_between", "floor", "ceil", "re_match"}
    assert isinstance(env.evaluate("Decimal('1.5') + 1", {}), Decimal)
    assert env.evaluate("timedelta(days=2)", {}) == timedelta(days=2)


def test_extra_helpers_are_added_to_defaults() -> None:
    env = RestrictedEnvironment({"tariff": lambda kw: "LV" if kw <= 160 else "MV"})
    assert env.evaluate("tariff(load) + str(days_between('2026-01-01', '2026-01-03'))", {"load": 10}) == "LV2"
    with pytest.raises(ValueError):
        RestrictedEnvironment({"_getattr_": lambda *a: None})
    with pytest.raises(ValueError):
        RestrictedEnvironment({"not a name": 1})


def test_compiled_code_is_cached() -> None:
    from engine.core.scripting.policy import compile_script

    first = compile_script("a > 1", "eval")
    assert compile_script("a > 1", "eval") is first
    assert compile_script("a > 1", "exec") is not first


# --------------------------------------------------------------------------------------------
# escapes


ESCAPES = [
    ("import_os", "import os"),
    ("from_import", "from os import path"),
    ("import_sys", "import sys"),
    ("sys_name", "m = sys.modules"),
    ("dunder_import", "__import__('os')"),
    ("open", "open('/etc/passwd').read()"),
    ("subclasses_walk", "().__class__.__mro__[1].__subclasses__()"),
    ("list_class", "c = [].__class__"),
    ("getattr_builtin", "getattr(x, '__class__')"),
    ("builtins_subscript", "o = __builtins__['open']"),
    ("globals", "g = globals()"),
    ("locals", "g = locals()"),
    ("vars", "g = vars()"),
    ("dir", "g = dir()"),
    ("eval", "eval('1')"),
    ("exec", "exec('x=1')"),
    ("compile", "compile('1', '', 'eval')"),
    ("type_call", "t = type(1)"),
    ("str_format_attr", "s = '{0.__class__}'.format(1)"),
    ("str_format_globals", "def f():\n    pass\ns = '{0.__globals__}'.format(f)"),
    ("str_format_map", "s = '{x.__class__}'.format_map({'x': 1})"),
    ("str_format_unbound", "s = str.format('{0.__class__}', 1)"),
    ("fstring_dunder", "s = f'{x.__class__}'"),
    ("fstring_dynamic_spec", "s = f'{x:>{n}}'"),
    ("lambda_code", "c = (lambda: 1).__code__"),
    ("function_globals", "def f():\n    pass\ng = f.__globals__"),
    ("gen_frame", "g = (i for i in [1])\nfr = g.gi_frame"),
    ("frame_back", "g = (i for i in [1])\nfr = g.gi_frame.f_back.f_globals"),
    ("gen_code", "g = (i for i in [1])\nc = g.gi_code"),
    ("mro_to_object", "o = int.mro()[-1]"),
    ("datetime_now", "t = datetime.now()"),
    ("date_today", "t = date.today()"),
    ("datetime_utcnow", "t = datetime.utcnow()"),
    ("instance_today", "t = parse_date('2026-01-01').today()"),
    ("print", "print('leak')"),
    ("class_def", "class A:\n    pass"),
    ("with_stmt", "with x:\n    pass"),
    ("bare_except", "try:\n    y = 1\nexcept:\n    pass"),
    ("finally", "try:\n    y = 1\nfinally:\n    pass"),
    ("write_helper_attr", "datetime.max = 1"),
    ("write_function_attr", "def f():\n    pass\nf.x = 1"),
    ("private_name", "_secret = 1"),
    ("huge_string", "s = 'x' * 10**10"),
    ("huge_power", "n = 2 ** 10**9"),
    ("huge_shift", "n = 1 << 10**9"),
    ("huge_percent_width", "s = '%1000000000s' % 'x'"),
    ("huge_ljust", "s = 'x'.ljust(10**10)"),
    ("huge_join", "s = ','.join(['x' * 1000] * 10000)"),
    ("huge_range", "for i in range(10**12):\n    pass"),
]


@pytest.mark.parametrize("source", [s for _, s in ESCAPES], ids=[i for i, _ in ESCAPES])
def test_escape_is_refused(env: RestrictedEnvironment, source: str) -> None:
    ctx = {"x": 1, "n": 5}
    with pytest.raises(REFUSED):
        env.execute(source, ctx)
    assert set(ctx) <= {"x", "n", "g", "f"}  # nothing useful was computed


@pytest.mark.parametrize("source", [
    "().__class__.__mro__[1].__subclasses__()",
    "__import__('os').system('true')",
    "(lambda: 1).__globals__",
    "'{0.__class__}'.format(x)",
    "open('/etc/passwd')",
    "datetime.now()",
], ids=["subclasses", "import", "lambda_globals", "format", "open", "now"])
def test_escape_in_condition_is_refused(env: RestrictedEnvironment, source: str) -> None:
    with pytest.raises(REFUSED):
        env.evaluate(source, {"x": 1})


def test_runtime_guards_refuse_without_the_compiler() -> None:
    """Defence in depth: the run-time guards refuse what the compile-time policy already refuses."""
    from datetime import datetime

    from engine.core.scripting.guards import _guarded_getattr, _guarded_write

    gen = (i for i in [1])
    for obj, name in [(1, "__class__"), ("x", "format"), ("x", "format_map"), (str, "format"),
                      (datetime, "now"), (date, "today"), (int, "mro"), (gen, "gi_frame"), (gen, "gi_code")]:
        with pytest.raises(ScriptError):
            _guarded_getattr(obj, name)
    with pytest.raises(ScriptError):
        _guarded_write(datetime)
    with pytest.raises(AttributeError):
        _guarded_getattr("x", "no_such_method")  # missing attributes are errors, not None
    assert _guarded_getattr("x", "upper")() == "X"


def test_guard_names_in_task_data_cannot_replace_guards(env: RestrictedEnvironment) -> None:
    ctx = {"_getattr_": "hijack", "__builtins__": {"open": "x"}, "_write_": None, "s": "ab"}
    assert env.evaluate("s.upper()", ctx) == "AB"
    env.execute("t = s.upper()", ctx)
    assert ctx["t"] == "AB" and ctx["_getattr_"] == "hijack"


@pytest.mark.parametrize("source", [
    "while True: pass",
    "while True:\n    pass",
    "n = 0\nwhile n >= 0:\n    n += 1",
    "for i in range(10**6):\n    for j in range(10**6):\n        pass",
    "x = [1 for i in range(10**6) for j in range(10**6)]",
    "def f(n):\n    return f(n - 1) + f(n - 1) if n else 0\nf(60)",
    "while True:\n    try:\n        while True: pass\n    except Exception:\n        pass",
    "def f():\n    f()\ntry:\n    f()\nexcept Exception:\n    pass\nwhile True: pass",
], ids=["while_true_one_line", "while_true", "counter", "nested_for", "nested_comprehension",
        "exponential_recursion", "swallow_timeout", "recursion_then_loop"])
def test_runaway_script_is_stopped(source: str) -> None:
    env = RestrictedEnvironment(time_limit=0.2)
    start = time.monotonic()
    with pytest.raises(ScriptError, match=r"exceeded its time limit of 0\.2s"):
        env.execute(source, {})
    assert time.monotonic() - start < 3


def test_runaway_condition_is_stopped() -> None:
    env = RestrictedEnvironment(time_limit=0.2)
    start = time.monotonic()
    with pytest.raises(ScriptError, match="time limit"):
        env.evaluate("any(i < 0 for i in range(10**6) for j in range(10**6))", {})
    assert time.monotonic() - start < 3


# --------------------------------------------------------------------------------------------
# task data hygiene


def test_nothing_leaks_into_task_data(env: RestrictedEnvironment) -> None:
    ctx = {"a": 1}
    env.execute("b = a\ndef f():\n    return 1\ng = lambda: 2\nalias = parse_date\nit = iter_ok = None\n"
                "gen = (i for i in [1])\nc = f() + g()\nfloor = 3", ctx, {"ext": 5})
    assert ctx == {"a": 1, "b": 1, "c": 3, "it": None, "iter_ok": None}
    assert not {"__builtins__", "_getattr_", "_tick_", "Decimal", "len"} & set(ctx)


def test_deleted_variables_leave_task_data(env: RestrictedEnvironment) -> None:
    ctx = {"a": 1, "tmp": 2}
    env.execute("del tmp", ctx)
    assert ctx == {"a": 1}


def test_external_context_is_visible_but_not_stored(env: RestrictedEnvironment) -> None:
    ctx = {"a": 1}
    assert env.evaluate("a + obj", ctx, {"obj": 2}) == 3
    env.execute("b = obj + a", ctx, {"obj": 2})
    assert ctx == {"a": 1, "b": 3}


def test_task_data_shadowing_a_helper(env: RestrictedEnvironment) -> None:
    with pytest.raises(ScriptError, match="date"):
        env.execute("x = 1", {"date": "2026-01-01"})
    with pytest.raises(ScriptError, match="date"):
        env.evaluate("date > '2025'", {"date": "2026-01-01"})
    # a condition that does not use the name is unaffected
    assert env.evaluate("a > 1", {"date": "2026-01-01", "a": 2}) is True


def test_errors_propagate(env: RestrictedEnvironment) -> None:
    with pytest.raises(ValueError, match="no tariff"):
        env.execute("x = 1\nraise ValueError('no tariff')", {})
    with pytest.raises(ZeroDivisionError):
        env.evaluate("1 / zero", {"zero": 0})
    with pytest.raises(NameError):
        env.evaluate("missing + 1", {})


# --------------------------------------------------------------------------------------------
# check_source


def test_check_source_accepts_good_code() -> None:
    assert check_source('capacity_kw <= 160 and voltage == "0.4kV"', "eval") is None
    assert check_source('"P2D"', "eval") is None
    assert check_source("x = a + 1\nfor i in range(3):\n    x += i\nd['k'] = [i for i in lst]", "exec") is None


def test_check_source_reports_syntax_errors_with_line() -> None:
    msg = check_source("x = 1\ny = (", "exec")
    assert msg is not None and "line 2" in msg and "\n" not in msg
    assert check_source("a >", "eval") is not None


@pytest.mark.parametrize("source,mode,needle", [
    ("x = 1\ny = a.__class__", "exec", "line 2"),
    ("a.__class__", "eval", "__class__"),
    ("import os", "exec", "import"),
    ("x = 1\n\nfrom os import path", "exec", "line 3"),
    ("open('f')", "eval", "open"),
    ("'{}'.format(a)", "eval", "format"),
    ("datetime.now()", "eval", "now"),
    ("try:\n    x = 1\nexcept:\n    pass", "exec", "except"),
], ids=["dunder_exec", "dunder_eval", "import", "from_import_line", "open", "format", "now", "bare_except"])
def test_check_source_reports_forbidden_constructs(source: str, mode: str, needle: str) -> None:
    msg = check_source(source, mode)
    assert msg is not None and needle in msg and "\n" not in msg


# --------------------------------------------------------------------------------------------
# SpiffWorkflow integration

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="proc" isExecutable="true">
"""
_TAIL = "  </bpmn:process>\n</bpmn:definitions>\n"


def _gateway_bpmn(script: str) -> str:
    return _HEAD + f"""
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="calc"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>big</bpmn:outgoing><bpmn:outgoing>small</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:scriptTask id="big_task"><bpmn:incoming>big</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>path = 'big'</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="small_task"><bpmn:incoming>small</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>path = 'small'</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end_big"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_small"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="calc"/>
    <bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="gw"/>
    <bpmn:sequenceFlow id="big" sourceRef="gw" targetRef="big_task">
      <bpmn:conditionExpression>x &gt; 5</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small" sourceRef="gw" targetRef="small_task">
      <bpmn:conditionExpression>x &lt;= 5</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="big_task" targetRef="end_big"/>
    <bpmn:sequenceFlow id="f4" sourceRef="small_task" targetRef="end_small"/>
""" + _TAIL


def _service_bpmn(param_expr: str) -> str:
    return _HEAD + f"""
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="lookup">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="gis/supply_scheme" resultVariable="scheme">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="load_kw" type="int" value="{param_expr}"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="lookup"/>
    <bpmn:sequenceFlow id="f2" sourceRef="lookup" targetRef="end"/>
""" + _TAIL


def _timer_bpmn(expression: str) -> str:
    return _HEAD + f"""
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>{expression}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
""" + _TAIL


def _workflow(xml: str, engine: ScriptEngine, **data: object) -> BpmnWorkflow:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_str(xml.encode(), "test.bpmn")
    wf = BpmnWorkflow(parser.get_spec("proc"), parser.get_subprocess_specs("proc"), script_engine=engine)
    start = wf.get_next_task(state=TaskState.READY)
    start.set_data(**data)
    return wf


def _completed(wf: BpmnWorkflow) -> set[str]:
    return {t.task_spec.bpmn_id for t in wf.get_tasks() if t.state == TaskState.COMPLETED and t.task_spec.bpmn_id}


@pytest.mark.parametrize("a,path", [(10, "big"), (2, "small")])
def test_workflow_script_and_gateway(a: int, path: str) -> None:
    wf = _workflow(_gateway_bpmn("x = a + 1"), make_script_engine(), a=a)
    wf.do_engine_steps()
    assert wf.is_completed()
    assert wf.data["x"] == a + 1 and wf.data["path"] == path
    assert f"{path}_task" in _completed(wf) and f"end_{path}" in _completed(wf)
    assert not {"__builtins__", "_getattr_", "parse_date"} & set(wf.data)


def test_workflow_refuses_import() -> None:
    wf = _workflow(_gateway_bpmn("import os\nx = 1"), make_script_engine(), a=1)
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    assert "import" in str(info.value) and info.value.task.task_spec.bpmn_id == "calc"


def test_workflow_reports_script_line() -> None:
    wf = _workflow(_gateway_bpmn("x = 1\nraise ValueError('bad load')"), make_script_engine(), a=1)
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    assert info.value.line_number == 2 and "bad load" in str(info.value)


def test_workflow_time_limit() -> None:
    wf = _workflow(_gateway_bpmn("x = 0\nwhile True:\n    x += 1"), make_script_engine(time_limit=0.2), a=1)
    with pytest.raises(WorkflowTaskException, match="time limit") as info:
        wf.do_engine_steps()
    assert info.value.line_number in (2, 3)


def test_workflow_timer_expression() -> None:
    wf = _workflow(_timer_bpmn('"P2D"'), make_script_engine())
    wf.do_engine_steps()
    waiting = wf.get_next_task(spec_name="wait")
    assert waiting.state == TaskState.WAITING
    assert "event_value" in waiting.internal_data


def test_service_task_calls_the_handler() -> None:
    calls = []

    def caller(context: dict, operation: str, params: dict) -> str:
        calls.append((operation, params))
        return json.dumps({"scheme": "new LV feeder"})

    wf = _workflow(_service_bpmn("load_kw * 2"), make_script_engine(service_caller=caller), load_kw=45)
    wf.do_engine_steps()
    assert wf.is_completed() and wf.data["scheme"] == {"scheme": "new LV feeder"}
    assert calls == [("gis/supply_scheme", {"load_kw": {"value": 90, "type": "int"}})]


def test_service_task_surfaces_the_handler_error() -> None:
    def caller(context: dict, operation: str, params: dict) -> str:
        raise ServiceError("GIS is down for maintenance")

    wf = _workflow(_service_bpmn("load_kw"), make_script_engine(service_caller=caller), load_kw=45)
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    assert "GIS is down for maintenance" in str(info.value)
    assert not isinstance(info.value.__cause__, NameError)
    assert isinstance(info.value.__cause__, ServiceError) and info.value.error_type == "ServiceError"


def test_service_task_without_handler() -> None:
    wf = _workflow(_service_bpmn("load_kw"), make_script_engine(), load_kw=45)
    with pytest.raises(WorkflowTaskException, match="no service handler"):
        wf.do_engine_steps()


def test_service_parameter_is_sandboxed() -> None:
    wf = _workflow(_service_bpmn("().__class__"), make_script_engine(service_caller=lambda *a: "{}"), load_kw=1)
    with pytest.raises(WorkflowTaskException):
        wf.do_engine_steps()
