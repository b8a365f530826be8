"""Chinese wording of the deploy-time problems, for the analyst's modeler page.

The engine reports each problem in English (the CLI, logs and the API keep that text, which is
what a developer searches for). The modeler page shows analysts the translated sentence and keeps
the engine's text as a tooltip. Each entry is a regular expression over the engine's message
(written so JavaScript's RegExp reads it the same) and a template whose `{1}`, `{2}`… are the groups;
a message no pattern matches is shown as it is.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

PATTERNS: list[tuple[str, Any]] = [
    (r"^user task has no spiffworkflow property 'formJsonSchemaFilename'$",
     _l("The user task has no form: choose or create one under Form in the properties.")),
    (r"^form file '(.+)' not found in the forms directory$",
     _l("Form file “{1}” does not exist: create it on the Forms tab or choose an existing one.")),
    (r"^task lies in no lane, so nobody would see it in a work list$",
     _l("The task lies in no lane, so nobody would see it in a work list: put it in a lane.")),
    (r"^lane has no name, so no group can be assigned$",
     _l("The lane has no name, so it matches no group.")),
    (r"^lane '(.+)' matches no group; known: (.*)$",
     _l("Lane “{1}” matches no group. Known groups: {2}")),
    (r"^call activity has no calledElement$",
     _l("The call activity does not name the process it calls.")),
    (r"^calls process '(.+)', which no file of this deployment defines$",
     _l("It calls process “{1}”, which is not in this deployment.")),
    (r"^calls process '(.+)', which calls '(.+)' again",
     _l("It calls process “{1}”, which calls “{2}” again: a process may not call itself, directly or through "
        "others.")),
    (r"^calls process '(.+)', which is not executable$",
     _l("It calls process “{1}”, which is not marked executable.")),
    (r"^service task has no spiffworkflow:serviceTaskOperator$",
     _l("The service task has no operator: choose one of the registered operators.")),
    (r"^unknown service operator '(.+)'; registered: (.*)$",
     _l("Operator “{1}” is not registered. Registered: {2}")),
    (r"^calledDecisionId '(.+)' matches no DMN decision; available: (.*)$",
     _l("Decision “{1}” does not exist. Available: {2}")),
    (r"^script task has no script$", _l("The script task has no script.")),
    (r"^flow leaves gateway '(.+)' without a condition and is not its default; ",
     _l("A flow leaves gateway “{1}” without a condition and is not its default flow: add a condition or make "
        "it the default.")),
    (r"^timer has an empty (.+) expression$", _l("The timer's expression is empty.")),
    (r"^timer expression uses (.+), which no form of this process provides",
     _l("The timer expression uses {1}, which no form of this process provides.")),
    (r"^timer expression fails on the forms' sample data: (.*)$",
     _l("The timer expression fails on the forms' sample data: {1}")),
    (r"^timer expression evaluates to (.+?),? (?:which is )?not an ISO 8601",
     _l("The timer expression gives {1}, which is not an ISO 8601 time (like \"P2D\" or \"PT48H\").")),
    (r"^timer date '(.+)' has no UTC offset",
     _l("Timer date “{1}” has no time zone: write one, e.g. +08:00.")),
    (r"^(.+) has a syntax error: (.*)$", _l("Syntax error in {1}: {2}")),
    (r"^(.+) refused: (.*)$", _l("{1} is not allowed: {2}")),
    (r"^form file name '(.+)' must be a plain file name",
     _l("Form file name “{1}” must be a plain file name, without a path or “..”.")),
    (r"^form file is not valid JSON: (.*)$", _l("The form file is not valid JSON: {1}")),
    (r"^form schema fails the JSON Schema meta-schema: (.*)$",
     _l("The form is not a valid JSON Schema: {1}")),
    (r"^example (\d+) does not match its own schema at (.+?): (.*)$",
     _l("Example {1} does not match the form at {2}: {3}")),
    (r"^DOCTYPE/DTD and entity declarations are not allowed",
     _l("DOCTYPE/DTD and entity declarations are not allowed in BPMN or DMN files.")),
    (r"^XML syntax error: (.*)$", _l("XML syntax error: {1}")),
    (r"^BPMN schema violation: (.*)$", _l("Not valid BPMN 2.0: {1}")),
    (r"^([\w:]+) is not supported by SpiffWorkflow", _l("The engine does not support {1}.")),
    (r"^([\w:]+) is not connected to the process flow",
     _l("{1} is not connected to the process flow, so it would never run.")),
    (r"^the bundle contains no executable process$", _l("There is no executable process to deploy.")),
    (r"^process id '(.+)' is already defined in (.+)$", _l("Process id “{1}” is already defined in {2}.")),
    # foreign models (issue #16): DMN files, data stores and associations, duplicate ids, timers
    (r"^this is not a DMN file: its root element is <(.+?)> in namespace '(.*?)'",
     _l("This is not a DMN file: its root element is <{1}> in namespace “{2}”. A DMN file starts with <definitions> in a DMN namespace.")),
    (r"^the DMN file defines no decision",
     _l("The DMN file defines no decision.")),
    (r"^decision '(.+)' has no decision table",
     _l("Decision “{1}” has no decision table: only decision tables can run.")),
    (r"^business rule task names no decision: set spiffworkflow:calledDecisionId to one of: (.*)$",
     _l("The business rule task names no decision: choose one of: {1}")),
    (r"^timer (\w+) (.+) is not quoted",
     _l("Timer value {2} is not quoted: write it as a string, \"{2}\".")),
    (r"^data store '(.+)' (?:cannot run|has no implementation)",
     _l("Data store “{1}” cannot run here: keep the data in the case (a data object or form fields) or use a service operator.")),
    (r"^(dataOutputAssociation|dataInputAssociation) (\S*) ?points to '(.*)', which is no data object",
     _l("{1} {2} points to “{3}”, which is not a data object of this process: connect it to a data object reference.")),
    (r"^(dataOutputAssociation|dataInputAssociation) cannot be resolved",
     _l("{1} cannot be resolved: connect it to a data object reference.")),
    (r"^(\w+) has (\S+) outgoing flows(.*?); this kind of task may have only one",
     _l("{1} has {2} outgoing flows{3}; this kind of task may have only one: put an exclusive or parallel gateway after it.")),
    (r"^id '(.+)' is used by more than one element \(first on line (\d+|None)\)",
     _l("Id “{1}” is used by more than one element (first on line {2}): ids must be unique in a file, rename one.")),
    (r"^SpiffWorkflow: (.*)$", _l("The engine cannot read this: {1}")),
    # files made in Camunda Modeler (engine/modeling/authoring.py, on import and check)
    (r"^camunda:(formKey|formRef|formData|formField)\b",
     _l("camunda:{1} is a Camunda form, which Yekuo does not have: choose a JSON-Schema form for it in the "
        "import's form map, or give the task one (formJsonSchemaFilename).")),
    (r"^camunda:(class|delegateExpression|expression|type|topic|connector|field)\b",
     _l("camunda:{1} runs Java or a Camunda expression, which Yekuo cannot run: choose a registered service "
        "operator.")),
    (r"^camunda:(assignee|candidateGroups|candidateUsers)\b",
     _l("camunda:{1} assigns the task in Camunda; in Yekuo the task's lane decides the group: put the task in a "
        "lane.")),
    (r"^camunda:(executionListener|taskListener)\b",
     _l("Camunda listeners (camunda:{1}) would not run: use a script task or a service task.")),
    (r"^camunda:(inputOutput|in|out)\b",
     _l("Camunda variable mappings (camunda:{1}) would not run: map the data in a Python script.")),
    (r"^camunda:(\w+)", _l("camunda:{1} has no meaning in Yekuo: remove it.")),
    (r"^zeebe:(\w+) is Camunda 8",
     _l("zeebe:{1} is Camunda 8 (Zeebe) configuration, which Yekuo cannot run: use a service operator, a "
        "JSON-Schema form and lanes instead.")),
    (r"^Yekuo runs scripts as restricted Python; this script is '(.+)'",
     _l("Yekuo runs scripts as restricted Python; this script is {1}: rewrite it in Python.")),
    (r"^(\w+) '(.*)' is a JUEL expression",
     _l("{1} “{2}” is a Camunda JUEL expression: write it in Python, e.g. amount > 100 or \"PT48H\".")),
    (r"^the root element is in namespace '(.*)'",
     _l("The root element is in namespace “{1}”, not BPMN 2.0.")),
    (r"^errorCode='(.+)' on an escalation \(as spiff-arena writes it\) was read as its escalationCode$",
     _l("The escalation's errorCode “{1}” (as spiff-arena writes it) was taken as its escalation code.")),
    (r"^Camunda form '(.+)' replaced by the chosen form '(.+)'$",
     _l("Camunda form “{1}” replaced by the chosen form “{2}”.")),
    (r"^plain task \(no type\) waits for a person but lies in no lane",
     _l("This task has no type, so it waits for a person, but it lies in no lane: only supervisors would see it "
        "and nobody could claim it. Make it a user task in a lane, or a script or service task.")),
]


def for_page() -> list[dict[str, str]]:
    """The patterns with their templates in the page's language, for the modeler script."""
    return [{"re": pattern, "text": str(text)} for pattern, text in PATTERNS]
